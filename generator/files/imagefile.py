"""Streaming, atomic image writers (PNG, OpenEXR, TIFF) and the matching readers.

Images are rendered band by band and can be far larger than memory, so writers take rows in
bands and keep only a band plus encoder state. A file only ever appears under its final name
complete: writers fill a hidden temporary file in the target's folder, fsync it and rename it
over the target on commit; any failure removes the temporary file and leaves an existing
target untouched. Writers take linear-light float RGB, or RGB with a straight (unassociated)
alpha (``alpha=True``); integer formats store sRGB. Each format stores alpha by its own
convention: PNG and TIFF straight (TIFF's ExtraSamples says "unassociated"), OpenEXR
premultiplied (its colour channels are multiplied by A on writing).
"""

from __future__ import annotations

import abc
import contextlib
import errno
import functools
import json
import os
import queue
import struct
import threading
import zlib
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from types import MappingProxyType, TracebackType
from typing import BinaryIO, TypeVar

import numpy as np
import tifffile

from generator.errors import BackdropError, OutputError
from generator.files.atomicfile import PartialFile


@dataclass(frozen=True)
class ImageFormat:
    """An output format: its file extensions and the bit depths it can store."""

    name: str
    extensions: tuple[str, ...]
    bit_depths: tuple[int, ...]
    default_bit_depth: int
    sample_types: Mapping[int, str] = field(default_factory=dict)  # e.g. 16 -> "half"

    def describe(self) -> str:
        """One phrase like 'PNG (.png: 8 or 16 bit, default 8)' for messages and help."""
        depths = [
            f"{d} ({self.sample_types[d]})" if d in self.sample_types else str(d)
            for d in self.bit_depths
        ]
        listed = " or ".join(filter(None, (", ".join(depths[:-1]), depths[-1])))
        return (
            f"{self.name} ({', '.join(self.extensions)}: {listed} bit, "
            f"default {self.default_bit_depth})"
        )


IMAGE_FORMATS: tuple[ImageFormat, ...] = (
    ImageFormat("PNG", (".png",), (8, 16), 8),
    ImageFormat("OpenEXR", (".exr",), (16, 32), 16, {16: "half", 32: "float"}),
    ImageFormat("TIFF", (".tif", ".tiff"), (8, 16, 32), 16, {32: "float"}),
)
# Human-readable list of the supported formats, for error messages and CLI help.
SUPPORTED_FORMATS = "; ".join(f.describe() for f in IMAGE_FORMATS)

_T = TypeVar("_T")
_ZLIB_LEVEL = 6
_PIECE_BYTES = 8 << 20  # rows are encoded in pieces of about this many input bytes
_PNG_IDAT_BYTES = 1 << 20
_EXR_FAST_ZIP_LEVEL = 1
"""Deflate level of half-float EXR blocks written ``fast``: on a sky 4x faster than level 6,
files 9% larger."""
_PNG_FAST_LEVEL = 1
"""Deflate level of PNGs written ``fast``: a dithered sky's rows (a random last bit in every
code) took level 6 eleven times as long as undithered ones; at level 1 they take about as long
as undithered ones did at level 6, in files a quarter larger than at 6."""
_EXR_BLOCK_ROWS = {0: 1, 3: 16}
"""Scanlines per block of OpenEXR's no compression (0) and ZIP (3)."""
_TIFF_STRIP_BYTES = 64 << 10
_BIGTIFF_BYTES = 2 << 30
_ENCODER_THREADS = max(1, min(4, os.cpu_count() or 1))
# Header attributes OpenEXR readers interpret; a string attribute of that name would break them.
_RESERVED_KEYS = frozenset(
    {
        "channels",
        "chunkCount",
        "compression",
        "dataWindow",
        "displayWindow",
        "lineOrder",
        "name",
        "pixelAspectRatio",
        "screenWindowCenter",
        "screenWindowWidth",
        "tiles",
        "type",
        "version",
    }
)


def linear_to_srgb(linear: np.ndarray) -> np.ndarray:
    """Encode linear-light values with the exact sRGB transfer function (float32, unclipped)."""
    return _srgb_oetf(np.asarray(linear, dtype=np.float32))


def srgb_to_linear(srgb: np.ndarray) -> np.ndarray:
    """Decode sRGB-encoded values to linear light (float32, unclipped); inverse of the above.

    The power is taken in float64 and rounded once to float32: numpy's float32 power is a
    vector routine on AVX-512 processors that differs from the correctly rounded one elsewhere
    by a unit in the last place, which moved a few 8-bit pixels of the assembled training data
    from one machine to the next (``data/manifest.csv`` holds their hashes)."""
    x = np.asarray(srgb, dtype=np.float32)
    base = (np.maximum(x, 0.04045) + 0.055) / 1.055
    curve = np.power(base.astype(np.float64), float(np.float32(2.4))).astype(np.float32)
    return np.where(x <= 0.04045, x / 12.92, curve)


def _srgb_oetf(x: np.ndarray) -> np.ndarray:
    """sRGB encoding (IEC 61966-2-1) in the floating-point type of `x`."""
    curve = 1.055 * np.power(np.maximum(x, 0.0031308), 1 / 2.4) - 0.055
    return np.where(x <= 0.0031308, 12.92 * x, curve)


def open_image_writer(
    path: str | os.PathLike[str],
    width: int,
    height: int,
    *,
    bit_depth: int | None = None,
    metadata: Mapping[str, str] = MappingProxyType({}),
    alpha: bool = False,
    fast: bool = False,
) -> ImageWriter:
    """Open a writer for `path`, choosing the format from its extension; with ``alpha`` it
    takes RGBA rows (straight alpha, 0..1) and writes an alpha channel. ``fast`` trades size
    for encoding time where that pays (OpenEXR: half float at deflate level 1, 32-bit float
    uncompressed; PNG: deflate level 1); TIFF ignores it.

    Fails here, before any rendering, with OutputError when the format or bit depth is not
    supported or the file cannot be created (missing or unwritable folder, path is a folder).
    Metadata keys must suit every format (1-31 printable ASCII characters, not an OpenEXR
    header attribute name); a bad key is a programming error and raises ValueError.
    """
    target = os.fspath(path)
    image_format, depth = _format_and_depth(target, bit_depth)
    if width < 1 or height < 1:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    _check_metadata(metadata)
    writer_class = {"PNG": _PngWriter, "OpenEXR": _ExrWriter, "TIFF": _TiffWriter}
    partial = _create_partial(target)
    writer = writer_class[image_format.name]
    return writer(partial, width, height, depth, dict(metadata), 4 if alpha else 3, fast)


def check_output(path: str | os.PathLike[str], bit_depth: int | None = None) -> None:
    """The OutputError ``open_image_writer`` would raise, now: for work that runs minutes
    before it knows what to write (a photo's inversion), so a typo fails at once."""
    target = os.fspath(path)
    _format_and_depth(target, bit_depth)
    _create_partial(target).discard()


def holds_display_values(path: str | os.PathLike[str], bit_depth: int | None = None) -> bool:
    """Whether ``path`` at ``bit_depth`` stores integers (PNG; 8/16-bit TIFF): display values
    clipped to 0..1, where a float file holds scene radiance."""
    image_format, depth = _format_and_depth(os.fspath(path), bit_depth)
    return image_format.name != "OpenEXR" and depth in (8, 16)


def _format_and_depth(target: str, bit_depth: int | None) -> tuple[ImageFormat, int]:
    image_format = _format_for(target, OutputError)
    depth = image_format.default_bit_depth if bit_depth is None else bit_depth
    if depth not in image_format.bit_depths:
        raise OutputError(
            f"{image_format.name} cannot store {depth}-bit images ({target}); "
            f"supported: {image_format.describe()}"
        )
    return image_format, depth


class ImageWriter(abc.ABC):
    """Takes linear RGB rows top to bottom; the file appears under its name only on commit.

    Use it as a context manager: leaving the block normally commits if every row was written
    (otherwise it raises OutputError), and leaving it by any exception removes the partial file.
    """

    def __init__(
        self,
        partial: PartialFile,
        width: int,
        height: int,
        bit_depth: int,
        metadata: dict[str, str],
        channels: int = 3,
        fast: bool = False,
    ) -> None:
        if channels not in (3, 4):
            raise ValueError(f"an image has 3 (RGB) or 4 (RGBA) channels, not {channels}")
        self.path = partial.target
        self.channels = channels
        self.fast = fast
        self.width = width
        self.height = height
        self.bit_depth = bit_depth
        self.metadata = metadata
        self.rows_written = 0
        self._file = partial
        self._state = "open"
        self._guard(self._begin)

    def write_rows(self, rows: np.ndarray, dither: np.ndarray | None = None) -> None:
        """Append float32 linear RGB rows of shape (n, width, 3), any n, top to bottom (RGBA,
        (n, width, 4) with straight alpha, for a writer opened with ``alpha``). ``dither``
        (n, width, 3), in steps of an 8/16-bit file's code, is added to the colour's encoded
        values before they are rounded (float files ignore it).

        A wrong shape or more rows than the height raise ValueError; a failed write removes
        the partial file and raises OutputError.
        """
        if self._state != "open":
            raise ValueError(f"image writer for {self.path} is already {self._state}")
        rows = np.asarray(rows, dtype=np.float32)
        if rows.ndim != 3 or rows.shape[1:] != (self.width, self.channels):
            raise ValueError(
                f"expected rows of shape (n, {self.width}, {self.channels}), got {rows.shape}"
            )
        if self.rows_written + len(rows) > self.height:
            raise ValueError(
                f"too many rows for {self.path}: {self.rows_written} + {len(rows)} > {self.height}"
            )
        if dither is not None and dither.shape != (*rows.shape[:2], 3):
            raise ValueError(f"expected a dither of shape {rows.shape[:2]} x 3, got {dither.shape}")
        step = max(1, _PIECE_BYTES // rows[0].nbytes) if len(rows) else 1
        for start in range(0, len(rows), step):
            piece = slice(start, start + step)
            self._guard(self._encode, rows[piece], None if dither is None else dither[piece])
        self.rows_written += len(rows)

    def commit(self) -> None:
        """Finish the file, fsync it and atomically rename it onto the target path."""
        if self._state != "open":
            raise ValueError(f"image writer for {self.path} is already {self._state}")
        if self.rows_written != self.height:
            self.abort()
            raise OutputError(
                f"{self.path} is incomplete ({self.rows_written} of {self.height} rows written); "
                "nothing was saved"
            )
        self._guard(self._finish)
        self._guard(self._file.commit)
        self._state = "committed"

    def abort(self) -> None:
        """Remove the partial file; the target path keeps whatever it had before."""
        if self._state != "open":
            return
        self._state = "aborted"
        self._file.discard()

    def __enter__(self) -> ImageWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self.abort()
        elif self._state == "open":
            self.commit()

    def _guard(self, action: Callable[..., object], *args: object) -> None:
        """Run an encoding step; on any failure drop the partial file and explain OS errors."""
        try:
            action(*args)
        except OSError as error:
            self.abort()
            raise _write_error(error, self.path) from error
        except BaseException:
            self.abort()
            raise

    @abc.abstractmethod
    def _begin(self) -> None:
        """Write the header, so that problems show up at open time."""

    @abc.abstractmethod
    def _encode(self, rows: np.ndarray, dither: np.ndarray | None) -> None:
        """Encode and write a validated piece of float32 rows (and its dither)."""

    @abc.abstractmethod
    def _finish(self) -> None:
        """Write everything still buffered and the trailer."""


def _create_partial(target: str) -> PartialFile:
    """``PartialFile.create`` with its errors worded for the user (OutputError)."""
    if os.path.isdir(target):
        raise OutputError(f"output path is a folder, not a file: {target}")
    try:
        return PartialFile.create(target)
    except OSError as error:
        raise _open_error(error, target, os.path.dirname(target) or os.curdir) from error


def _open_error(error: OSError, target: str, folder: str) -> OutputError:
    if error.errno in (errno.ENOENT, errno.ENOTDIR):
        return OutputError(f"output folder does not exist: {folder}")
    if error.errno in (errno.EACCES, errno.EPERM):
        return OutputError(f"output folder is not writable: {folder}")
    if error.errno == errno.EROFS:
        return OutputError(f"output folder is on a read-only file system: {folder}")
    return _write_error(error, target)


def _write_error(error: OSError, target: str) -> OutputError:
    if error.errno == errno.ENOSPC:
        return OutputError(f"disk full while writing {target}")
    if error.errno == getattr(errno, "EDQUOT", None):
        return OutputError(f"disk quota exceeded while writing {target}")
    if error.errno == errno.EFBIG:
        return OutputError(f"file too large for the file system: {target}")
    return OutputError(f"cannot write {target}: {error.strerror or error}")


def _format_for(path: str, error: type[BackdropError]) -> ImageFormat:
    extension = os.path.splitext(path)[1].lower()
    for image_format in IMAGE_FORMATS:
        if extension in image_format.extensions:
            return image_format
    raise error(f"unsupported image format '{extension or path}'; supported: {SUPPORTED_FORMATS}")


def _check_metadata(metadata: Mapping[str, str]) -> None:
    """Keys must be valid PNG keywords and OpenEXR attribute names, so all formats agree."""
    for key, value in metadata.items():
        if not (
            isinstance(key, str)
            and 1 <= len(key) <= 31
            and key.isascii()
            and key.isprintable()
            and key == key.strip()
            and "  " not in key
        ):
            raise ValueError(
                f"metadata key {key!r} must be 1-31 printable ASCII characters "
                "without leading, trailing or double spaces"
            )
        if key in _RESERVED_KEYS:
            raise ValueError(f"metadata key {key!r} is reserved by OpenEXR")
        if not isinstance(value, str) or "\0" in value:
            raise ValueError(f"metadata value for {key!r} must be a string without NUL")


DITHER_TILE = 256
"""Side of the tile of noise a dither repeats: a pattern of one step is not seen repeating,
and reading it costs nothing beside a render."""


@functools.lru_cache(maxsize=1)
def _dither_tile() -> np.ndarray:
    """(DITHER_TILE, DITHER_TILE, 3) triangular noise: the difference of two uniforms."""
    uniforms = np.random.default_rng(0x5EED).random((2, DITHER_TILE, DITHER_TILE, 3))
    return (uniforms[0] - uniforms[1]).astype(np.float32)


def place_dither(rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """(len(rows), len(columns), 3) triangular noise within one step either way (mean 0,
    spread 0.41 step) for a writer's ``dither``, a function of each pixel's place in the whole
    image alone: a window or a tile is dithered as the whole is. Added before rounding, it
    keeps a sky's smooth gradients from falling into bands of one 8-bit code each, as
    Blender's own dither does for its 8-bit renders."""
    index = np.ix_(np.asarray(rows) % DITHER_TILE, np.asarray(columns) % DITHER_TILE)
    return _dither_tile()[index]


def band_dither(
    writer: ImageWriter, band: np.ndarray, rows: np.ndarray, columns: np.ndarray
) -> np.ndarray | None:
    """The ``dither`` for a band of ``writer``'s rows, ``band`` at ``rows`` and ``columns``
    of the whole image: place-keyed noise for an 8-bit file, whose steps band a smooth
    gradient, and None for deeper ones, whose steps do not; a transparent pixel's colour
    stays black."""
    if writer.bit_depth != 8:
        return None
    dither = place_dither(rows, columns)
    if writer.channels == 4:
        dither *= band[..., 3:] > 0.0
    return dither


def _srgb_integers(
    rows: np.ndarray, bit_depth: int, dither: np.ndarray | None = None
) -> np.ndarray:
    """Quantise linear rows to sRGB-encoded unsigned integers of `bit_depth` bits, the colour's
    codes offset by `dither` steps before rounding; a fourth channel (alpha) is linear."""
    linear = np.clip(rows, 0.0, 1.0, dtype=np.float64)  # float64: exact codes at 16 bit
    encoded = _srgb_oetf(linear)
    if encoded.shape[-1] == 4:
        encoded[..., 3] = linear[..., 3]
    top = (1 << bit_depth) - 1
    encoded *= top
    if dither is not None:
        encoded[..., :3] += dither
        np.clip(encoded, 0.0, top, out=encoded)
    return np.rint(encoded).astype(np.uint8 if bit_depth == 8 else np.uint16)


class _RowBlocks:
    """Regroups rows arriving in pieces of any height into blocks of a fixed height."""

    def __init__(self, block_rows: int, template: np.ndarray, emit: Callable[[np.ndarray], None]):
        self._buffer = np.empty((block_rows, *template.shape[1:]), dtype=template.dtype)
        self._filled = 0
        self._emit = emit

    def add(self, rows: np.ndarray) -> None:
        block_rows = len(self._buffer)
        start = 0
        while start < len(rows):
            take = min(block_rows - self._filled, len(rows) - start)
            if self._filled == 0 and take == block_rows:
                self._emit(rows[start : start + take])
            else:
                self._buffer[self._filled : self._filled + take] = rows[start : start + take]
                self._filled += take
                if self._filled == block_rows:
                    self._filled = 0
                    self._emit(self._buffer)
            start += take

    def finish(self) -> None:
        if self._filled:
            self._emit(self._buffer[: self._filled])
            self._filled = 0


class _OrderedEncoder:
    """Compresses independent blocks (EXR blocks, TIFF strips) on a few threads (zlib releases
    the GIL) and hands the results to ``write`` in submission order: the same bytes as encoding
    one block after the other, while rendering goes on. At most ``pending`` blocks wait."""

    def __init__(self, write: Callable[[bytes], None], workers: int = _ENCODER_THREADS) -> None:
        self._write = write
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="encoder")
        self._futures: deque[Future[bytes]] = deque()
        self._pending = 4 * workers

    def submit(self, encode: Callable[..., bytes], *args: object) -> None:
        self._futures.append(self._pool.submit(encode, *args))
        while len(self._futures) > self._pending or (self._futures and self._futures[0].done()):
            self._write(self._futures.popleft().result())

    def drain(self) -> None:
        while self._futures:
            self._write(self._futures.popleft().result())
        self._pool.shutdown()

    def cancel(self) -> None:
        for future in self._futures:
            future.cancel()
        self._futures.clear()
        self._pool.shutdown(wait=True)


# --- PNG ---------------------------------------------------------------------------------------

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_chunk(kind: bytes, data: bytes | bytearray) -> bytes:
    crc = zlib.crc32(data, zlib.crc32(kind))
    return struct.pack(">I", len(data)) + kind + bytes(data) + struct.pack(">I", crc)


def _paeth_filter(raw: np.ndarray, previous: np.ndarray, bpp: int) -> np.ndarray:
    """Paeth-filter scanlines (h, n bytes) given the row above them; adds the filter byte."""
    x = raw.astype(np.int16)
    up = np.concatenate((previous[None].astype(np.int16), x[:-1]))
    left = np.zeros_like(x)
    left[:, bpp:] = x[:, :-bpp]
    up_left = np.zeros_like(x)
    up_left[:, bpp:] = up[:, :-bpp]
    pa = np.abs(up - up_left)
    pb = np.abs(left - up_left)
    pc = np.abs(left + up - 2 * up_left)
    predicted = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, up, up_left))
    filtered = np.empty((len(raw), raw.shape[1] + 1), dtype=np.uint8)
    filtered[:, 0] = 4
    filtered[:, 1:] = (x - predicted) & 0xFF
    return filtered


class _PngWriter(ImageWriter):
    """PNG: RGB (or RGBA, straight alpha) 8/16-bit sRGB, every row Paeth-filtered, one zlib
    stream over IDAT chunks."""

    def _begin(self) -> None:
        self._dtype = np.dtype(">u2" if self.bit_depth == 16 else "u1")
        self._bpp = self.channels * self._dtype.itemsize
        self._previous = np.zeros(self.width * self._bpp, dtype=np.uint8)
        self._compressor = zlib.compressobj(_PNG_FAST_LEVEL if self.fast else _ZLIB_LEVEL)
        self._pending = bytearray()
        colour_type = 6 if self.channels == 4 else 2
        header = struct.pack(
            ">IIBBBBB", self.width, self.height, self.bit_depth, colour_type, 0, 0, 0
        )
        chunks = [
            _PNG_SIGNATURE,
            _png_chunk(b"IHDR", header),
            _png_chunk(b"sRGB", b"\0"),
            _png_chunk(b"gAMA", struct.pack(">I", 45455)),
            _png_chunk(
                b"cHRM",
                struct.pack(">8I", 31270, 32900, 64000, 33000, 30000, 60000, 15000, 6000),
            ),
        ]
        for key, value in self.metadata.items():
            text = key.encode("latin-1") + b"\0\0\0\0\0" + value.encode("utf-8")
            chunks.append(_png_chunk(b"iTXt", text))
        self._file.write(b"".join(chunks))

    def _encode(self, rows: np.ndarray, dither: np.ndarray | None) -> None:
        samples = _srgb_integers(rows, self.bit_depth, dither).astype(self._dtype, copy=False)
        raw = samples.reshape(len(rows), -1).view(np.uint8)
        self._pending += self._compressor.compress(_paeth_filter(raw, self._previous, self._bpp))
        self._previous = raw[-1].copy()
        self._write_idat(final=False)

    def _finish(self) -> None:
        self._pending += self._compressor.flush()
        self._write_idat(final=True)
        self._file.write(_png_chunk(b"IEND", b""))

    def _write_idat(self, *, final: bool) -> None:
        """Cut the stream into fixed-size chunks so the bytes do not depend on band sizes."""
        while len(self._pending) >= _PNG_IDAT_BYTES or (final and self._pending):
            self._file.write(_png_chunk(b"IDAT", self._pending[:_PNG_IDAT_BYTES]))
            del self._pending[:_PNG_IDAT_BYTES]


# --- OpenEXR -----------------------------------------------------------------------------------

_EXR_MAGIC = 20000630
_EXR_HALF_MAX = 65504.0


def _exr_attribute(name: str, kind: str, value: bytes) -> bytes:
    return f"{name}\0{kind}\0".encode() + struct.pack("<i", len(value)) + value


def _exr_zip(raw: bytes, level: int = _ZLIB_LEVEL) -> bytes:
    """OpenEXR ZIP: split even/odd bytes, delta-code, deflate; raw if that does not help."""
    data = np.frombuffer(raw, dtype=np.uint8)
    reordered = np.concatenate((data[0::2], data[1::2]))
    predicted = reordered.copy()
    predicted[1:] = np.diff(reordered) + np.uint8(128)
    packed = zlib.compress(predicted.tobytes(), level)
    return packed if len(packed) < len(raw) else raw


class _ExrWriter(ImageWriter):
    """OpenEXR 2 single-part scanline file, B/G/R (A/B/G/R, premultiplied), half or float, ZIP
    in 16-row blocks; written ``fast``, half float ZIP at deflate level 1 and 32-bit float
    uncompressed in one-row blocks. ZIP shrinks a 32-bit sky by only 14-16% (the low mantissa
    bytes are noise) and took 20-40 CPU s of a 16384 x 8192 sky's ~60."""

    def _begin(self) -> None:
        self._dtype = np.dtype("<f2" if self.bit_depth == 16 else "<f4")
        pixel_type = 1 if self.bit_depth == 16 else 2
        self._compression = 0 if self.fast and self.bit_depth == 32 else 3
        self._level = _EXR_FAST_ZIP_LEVEL if self.fast else _ZLIB_LEVEL
        self._block_rows = _EXR_BLOCK_ROWS[self._compression]
        channels = b"".join(
            name + b"\0" + struct.pack("<iB3xii", pixel_type, 0, 1, 1)
            for name in (b"A", b"B", b"G", b"R")[4 - self.channels :]
        )
        window = struct.pack("<4i", 0, 0, self.width - 1, self.height - 1)
        attributes = [
            _exr_attribute("channels", "chlist", channels + b"\0"),
            _exr_attribute("compression", "compression", bytes([self._compression])),
            _exr_attribute("dataWindow", "box2i", window),
            _exr_attribute("displayWindow", "box2i", window),
            _exr_attribute("lineOrder", "lineOrder", b"\0"),
            _exr_attribute("pixelAspectRatio", "float", struct.pack("<f", 1.0)),
            _exr_attribute("screenWindowCenter", "v2f", struct.pack("<2f", 0.0, 0.0)),
            _exr_attribute("screenWindowWidth", "float", struct.pack("<f", 1.0)),
        ]
        for key, value in self.metadata.items():
            attributes.append(_exr_attribute(key, "string", value.encode("utf-8")))
        header = struct.pack("<ii", _EXR_MAGIC, 2) + b"".join(attributes) + b"\0"
        self._file.write(header)
        self._table_position = len(header)
        block_count = -(-self.height // self._block_rows)
        self._file.write(bytes(8 * block_count))
        self._offsets: list[int] = []
        template = np.empty((0, self.width, self.channels), dtype=self._dtype)
        self._blocks = _RowBlocks(self._block_rows, template, self._write_block)
        self._encoder = _OrderedEncoder(self._append_block)

    def _encode(self, rows: np.ndarray, dither: np.ndarray | None) -> None:
        if self.channels == 4:  # OpenEXR's colour is premultiplied by its alpha
            rows = np.concatenate((rows[..., :3] * rows[..., 3:], rows[..., 3:]), axis=-1)
        if self.bit_depth == 16:
            rows = np.clip(rows, -_EXR_HALF_MAX, _EXR_HALF_MAX)
        self._blocks.add(rows.astype(self._dtype))

    def _write_block(self, rows: np.ndarray) -> None:
        """Each scanline holds all (A,) B values, then G, then R (channel list order)."""
        raw = np.ascontiguousarray(rows[:, :, ::-1].transpose(0, 2, 1)).tobytes()
        if self._compression:
            self._encoder.submit(_exr_zip, raw, self._level)
        else:
            self._encoder.submit(bytes, raw)

    def _append_block(self, data: bytes) -> None:
        y = len(self._offsets) * self._block_rows
        self._offsets.append(self._file.tell())
        self._file.write(struct.pack("<ii", y, len(data)) + data)

    def abort(self) -> None:
        if self._state == "open" and hasattr(self, "_encoder"):
            self._encoder.cancel()
        super().abort()

    def _finish(self) -> None:
        self._blocks.finish()
        self._encoder.drain()
        end = self._file.tell()
        self._file.seek(self._table_position)
        self._file.write(struct.pack(f"<{len(self._offsets)}Q", *self._offsets))
        self._file.seek(end)


# --- TIFF --------------------------------------------------------------------------------------


class _Cancelled(Exception):
    """Stops the background TIFF writer when the image is aborted."""


class _TiffWriter(ImageWriter):
    """Deflate-compressed RGB (or RGBA, unassociated alpha) strips, encoded here and laid out
    by tifffile in a thread.

    tifffile wants all strips from one iterator inside a single call, so that call runs in a
    background thread fed through a small queue. Integer strips use the horizontal predictor;
    float strips use none, since tifffile only accepts the floating-point predictor for floats
    and cannot read it back without the optional imagecodecs package.
    """

    def _begin(self) -> None:
        self._thread = threading.Thread(target=self._run, name="tiff-writer", daemon=True)
        self._dtype = np.dtype({8: "u1", 16: "<u2", 32: "<f4"}[self.bit_depth])
        row_bytes = self.width * self.channels * self._dtype.itemsize
        rows_per_strip = max(1, min(self.height, _TIFF_STRIP_BYTES // row_bytes))
        template = np.empty((0, self.width, self.channels), dtype=self._dtype)
        self._blocks = _RowBlocks(rows_per_strip, template, self._write_strip)
        self._encoder = _OrderedEncoder(self._send)
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=4)
        self._failure: BaseException | None = None
        self._tiff = tifffile.TiffWriter(
            self._file, bigtiff=self.height * row_bytes > _BIGTIFF_BYTES, byteorder="<"
        )
        self._options = {
            "shape": (self.height, self.width, self.channels),
            "dtype": self._dtype,
            "photometric": "rgb",
            "planarconfig": "contig",
            "compression": "zlib",
            "predictor": "horizontal" if self.bit_depth < 32 else None,
            "rowsperstrip": rows_per_strip,
            "description": json.dumps(self.metadata, ensure_ascii=True),
            "metadata": None,
        }
        if self.channels == 4:
            self._options["extrasamples"] = ("unassalpha",)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._tiff.write(self._strips(), **self._options)
        except BaseException as error:  # handed to the rendering thread
            self._failure = error

    def _strips(self) -> Iterator[bytes]:
        while True:
            strip = self._queue.get()
            if strip is None:
                raise _Cancelled
            yield strip

    def _encode(self, rows: np.ndarray, dither: np.ndarray | None) -> None:
        if self.bit_depth == 32:
            self._blocks.add(rows)
        else:
            self._blocks.add(_srgb_integers(rows, self.bit_depth, dither))

    def _write_strip(self, strip: np.ndarray) -> None:
        if self.bit_depth < 32:
            difference = strip.copy()
            difference[:, 1:] -= strip[:, :-1]
            strip = difference
        self._encoder.submit(
            zlib.compress, strip.astype(self._dtype, copy=False).tobytes(), _ZLIB_LEVEL
        )

    def _send(self, item: bytes | None) -> None:
        while self._thread.is_alive():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue
        self._raise_failure()

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure
        raise RuntimeError("the TIFF writer thread stopped early")

    def _finish(self) -> None:
        self._blocks.finish()
        self._encoder.drain()
        self._thread.join()
        if self._failure is not None:
            self._raise_failure()
        self._tiff.close()

    def abort(self) -> None:
        if self._state == "open" and hasattr(self, "_encoder"):
            self._encoder.cancel()
        if self._state == "open" and self._thread.is_alive():
            with contextlib.suppress(Exception):  # a failure of the thread no longer matters
                self._send(None)
            self._thread.join()
        super().abort()


# --- Readers -----------------------------------------------------------------------------------

_READ_ERRORS = (
    OSError,
    ValueError,
    LookupError,
    EOFError,
    struct.error,
    zlib.error,
    RuntimeError,
    SyntaxError,
)


def read_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """Text metadata of a PNG, OpenEXR or TIFF file (as written by `open_image_writer`)."""
    return _read(path, {"PNG": _png_metadata, "OpenEXR": _exr_metadata, "TIFF": _tiff_metadata})


def read_image(path: str | os.PathLike[str], *, alpha: bool = False) -> np.ndarray:
    """Pixels as float32 linear RGB of shape (height, width, 3); for tests and tools.

    Loads the whole image. sRGB integer files are decoded to linear light. With ``alpha``:
    (height, width, 4), straight colour and alpha (1 where the file has none; an OpenEXR's
    premultiplied colour is divided by its alpha, and is 0 where alpha is 0).
    """
    readers = {"PNG": _png_pixels, "OpenEXR": _exr_pixels, "TIFF": _tiff_pixels}
    return _read(path, {name: functools.partial(r, alpha=alpha) for name, r in readers.items()})


def _read(path: str | os.PathLike[str], readers: Mapping[str, Callable[[str], _T]]) -> _T:
    """Run the reader for the file's format; every failure becomes one ``BackdropError`` line."""
    source = os.fspath(path)
    image_format = _format_for(source, BackdropError)
    if not os.path.exists(source):
        raise BackdropError(f"image file not found: {source}")
    try:
        return readers[image_format.name](source)
    except _READ_ERRORS as error:
        raise _read_error(error, source, image_format) from error


def _read_error(error: Exception, path: str, image_format: ImageFormat) -> BackdropError:
    if isinstance(error, OSError) and error.strerror:
        return BackdropError(f"cannot read {path}: {error.strerror}")
    return BackdropError(f"{path} is not a readable {image_format.name} file: {error}")


def _png_chunks(
    stream: BinaryIO, skip: frozenset[bytes] = frozenset()
) -> Iterator[tuple[bytes, bytes]]:
    """(type, data) for each chunk, CRC-checked; chunks of `skip` types are not read (b"")."""
    if stream.read(8) != _PNG_SIGNATURE:
        raise ValueError("not a PNG file")
    while True:
        head = stream.read(8)
        if len(head) != 8:
            raise ValueError("truncated PNG file")
        length, kind = struct.unpack(">I4s", head)
        if kind in skip:
            stream.seek(length + 4, os.SEEK_CUR)
            yield kind, b""
            continue
        data = stream.read(length)
        crc = stream.read(4)
        if len(crc) != 4 or struct.unpack(">I", crc)[0] != zlib.crc32(data, zlib.crc32(kind)):
            raise ValueError(f"damaged {kind.decode('latin-1')} chunk")
        yield kind, data
        if kind == b"IEND":
            return


def _png_text(kind: bytes, data: bytes) -> tuple[str, str]:
    keyword, _, rest = data.partition(b"\0")
    if kind == b"tEXt":
        return keyword.decode("latin-1"), rest.decode("latin-1")
    if kind == b"zTXt":
        return keyword.decode("latin-1"), zlib.decompress(rest[1:]).decode("latin-1")
    compressed = rest[0] == 1
    _language, _, rest = rest[2:].partition(b"\0")
    _translated, _, text = rest.partition(b"\0")
    return keyword.decode("latin-1"), (zlib.decompress(text) if compressed else text).decode()


def _png_metadata(path: str) -> dict[str, str]:
    with open(path, "rb") as stream:
        return dict(
            _png_text(kind, data)
            for kind, data in _png_chunks(stream, skip=frozenset({b"IDAT"}))
            if kind in (b"tEXt", b"zTXt", b"iTXt")
        )


_PNG_SAMPLES = {0: 1, 2: 3, 4: 2, 6: 4}  # colour type -> samples per pixel (gray, RGB, GA, RGBA)


def _with_alpha(rgb: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    if alpha is None:
        alpha = np.ones(rgb.shape[:2], dtype=np.float32)
    return np.concatenate((rgb, alpha[..., None].astype(np.float32)), axis=-1)


def _png_pixels(path: str, alpha: bool = False) -> np.ndarray:
    """Non-interlaced 16-bit PNGs are decoded here (Pillow reduces or clips them); the rest by
    Pillow. Gray is replicated to RGB; alpha dropped unless asked for."""
    with open(path, "rb") as stream:
        chunks = _png_chunks(stream)
        kind, header = next(chunks)
        if kind != b"IHDR":
            raise ValueError("PNG file does not start with IHDR")
        width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
        if depth == 16 and interlace == 0 and colour in _PNG_SAMPLES:
            channels = _PNG_SAMPLES[colour]
            decompressor = zlib.decompressobj()
            data = b"".join(decompressor.decompress(d) for k, d in chunks if k == b"IDAT")
            data += decompressor.flush()
            if len(data) != height * (1 + width * 2 * channels):
                raise ValueError("image data has the wrong size")
            scanlines = np.frombuffer(data, dtype=np.uint8).reshape(height, -1)
            raw = _png_unfilter(scanlines, 2 * channels).view(">u2")
            everything = raw.reshape(height, width, channels)
            samples = everything[..., : 3 if channels >= 3 else 1]
            samples = np.broadcast_to(samples, (height, width, 3))
            rgb = srgb_to_linear(samples.astype(np.float32) / np.float32(65535))
            if not alpha:
                return rgb
            opacity = everything[..., -1] / np.float32(65535) if channels in (2, 4) else None
            return _with_alpha(rgb, opacity)
    from PIL import Image

    with Image.open(path) as image:
        samples = np.asarray(image.convert("RGBA" if alpha else "RGB"))
    rgb = srgb_to_linear(samples[..., :3].astype(np.float32) / np.float32(255))
    if not alpha:
        return rgb
    return _with_alpha(rgb, samples[..., 3].astype(np.float32) / np.float32(255))


def _png_unfilter(scanlines: np.ndarray, bpp: int) -> np.ndarray:
    """Undo PNG row filters, one anti-diagonal of pixels at a time.

    A pixel depends only on its left, upper and upper-left neighbours, which all lie on
    earlier anti-diagonals, so each diagonal is decoded in one vectorised step.
    """
    height = len(scanlines)
    kinds = scanlines[:, 0].astype(np.int16)
    if kinds.max(initial=0) > 4:
        raise ValueError("unknown PNG filter type")
    filtered = scanlines[:, 1:].reshape(height, -1, bpp)
    width = filtered.shape[1]
    out = np.zeros((height + 1, width + 1, bpp), dtype=np.uint8)  # zero row and column
    for diagonal in range(height + width - 1):
        r = np.arange(max(0, diagonal - width + 1), min(height, diagonal + 1))
        i = diagonal - r
        a = out[r + 1, i].astype(np.int16)
        b = out[r, i + 1].astype(np.int16)
        c = out[r, i].astype(np.int16)
        pa, pb, pc = np.abs(b - c), np.abs(a - c), np.abs(a + b - 2 * c)
        paeth = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))
        kind = kinds[r, None]
        predicted = np.select(
            [kind == 1, kind == 2, kind == 3, kind == 4], [a, b, (a + b) >> 1, paeth], 0
        )
        out[r + 1, i + 1] = (filtered[r, i] + predicted) & 0xFF
    return out[1:, 1:].reshape(height, -1)


def _exr_metadata(path: str) -> dict[str, str]:
    """String attributes of the (first) header, parsed directly."""
    with open(path, "rb") as stream:
        magic, _version = struct.unpack("<ii", stream.read(8))
        if magic != _EXR_MAGIC:
            raise ValueError("not an OpenEXR file")
        result = {}
        while True:
            name = _read_cstring(stream)
            if not name:
                return result
            kind = _read_cstring(stream)
            (size,) = struct.unpack("<i", stream.read(4))
            value = stream.read(size)
            if len(value) != size:
                raise ValueError("truncated header")
            if kind == b"string":
                result[name.decode("utf-8")] = value.decode("utf-8")


def _read_cstring(stream: BinaryIO) -> bytes:
    text = bytearray()
    while (byte := stream.read(1)) != b"\0":
        if not byte or len(text) > 255:
            raise ValueError("damaged header")
        text += byte
    return bytes(text)


def _exr_pixels(path: str, alpha: bool = False) -> np.ndarray:
    try:
        import OpenEXR
    except ImportError:
        raise BackdropError("reading OpenEXR files needs the OpenEXR package") from None
    with OpenEXR.File(path, separate_channels=True) as image:
        channels = image.channels()
        missing = {"R", "G", "B"} - set(channels)
        if missing:
            raise ValueError(f"missing channels {', '.join(sorted(missing))}")
        rgb = np.stack([channels[c].pixels for c in "RGB"], axis=-1).astype(np.float32)
        if not alpha:
            return rgb
        if "A" not in channels:
            return _with_alpha(rgb, None)
        return straight_rgba(rgb, channels["A"].pixels)


def straight_rgba(premultiplied: np.ndarray, opacity: np.ndarray) -> np.ndarray:
    """Straight RGBA from OpenEXR's premultiplied colour and its alpha (colour 0 where nothing
    covers): what every reader of ours returns, whatever the file stored."""
    opacity = opacity.astype(np.float32)
    covered = opacity > 0
    divisor = np.where(covered, opacity, 1)[..., None]
    straight = np.where(covered[..., None], premultiplied / divisor, 0)
    return _with_alpha(straight.astype(np.float32), opacity)


def _tiff_metadata(path: str) -> dict[str, str]:
    """The JSON object in ImageDescription; other descriptions are not ours and give {}."""
    with tifffile.TiffFile(path) as tiff:
        description = tiff.pages.first.description
    try:
        found = json.loads(description)
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


def _tiff_pixels(path: str, alpha: bool = False) -> np.ndarray:
    samples = tifffile.imread(path)
    if samples.ndim == 2:
        samples = np.repeat(samples[:, :, None], 3, axis=2)
    if samples.ndim != 3 or samples.shape[2] < 3:
        raise ValueError(f"expected an RGB image, got shape {samples.shape}")
    rgb, opacity = samples[:, :, :3], samples[:, :, 3] if samples.shape[2] > 3 else None
    if rgb.dtype.kind == "f":
        linear = rgb.astype(np.float32)
    else:
        scale = np.float32(np.iinfo(rgb.dtype).max)
        linear = srgb_to_linear(rgb.astype(np.float32) / scale)
        opacity = None if opacity is None else opacity.astype(np.float32) / scale
    return _with_alpha(linear, opacity) if alpha else linear
