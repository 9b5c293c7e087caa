"""How well a model extends real photos it never saw (``python -m trainer evaluate-outpaint``).

Each reserved photo is taken at the model's native scale (the whole image fitted to the training
frame, as training sees it), its central part (``fraction`` of each side) becomes the "photo", and
the model outpaints it to the full frame size. Then:

- Photo seam: the mean |difference| across lines parallel to the photo's edges, for lines within
  the soft edge (+-feather pixels of the border) / for lines 2-4 feathers inside and outside it.
  1.00 means the transition is as calm as the picture on either side of it.
- Extension SWD: the generated surroundings (the frame's corners, which hold no photo pixels)
  against the reserved photos' corners, as a ratio to the SWD between as many training photos'
  corners and the same reserved ones (like ``evaluate``'s ratio; 1.0 = as close as real photos).
- Redraw PSNR: how well the inversion reproduced the photo (model space, range 2).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from generator.files import LoadedModel, new_recipe, read_image
from generator.rendering import InversionSettings, outpaint_to_file, place_photo
from trainer.evaluate import display, linear_frames, load_frames, reference_swd, swd


@dataclass
class OutpaintReport:
    photos: int
    seam: float
    seam_per_photo: list[float]
    swd_extension: float
    swd_real: float
    swd_ratio: float
    redraw_psnr_db: float

    def lines(self) -> list[str]:
        return [
            f"photo seam (border / either side): {self.seam:.3f}  (target 1.00 +- 0.1)",
            f"extension SWD ratio:               {self.swd_ratio:.3f}  (real photos: 1.0)",
            f"  SWD extension/real {self.swd_extension:.4f}, training/real {self.swd_real:.4f}",
            f"redraw PSNR of the photos:         {self.redraw_psnr_db:.1f} dB",
        ]


def photo_seam_ratio(image: np.ndarray, x: int, y: int, w: int, h: int, feather: int) -> float:
    """Cross-edge differences near the photo's border / further inside and outside (see above)."""
    f = max(feather, 1)
    gray = image.mean(axis=2)
    near, far = [], []
    for offset in range(-4 * f, 4 * f + 1):
        lines = _edge_differences(gray, x, y, w, h, offset)
        if abs(offset) <= f:
            near += lines
        elif 2 * f <= abs(offset):
            far += lines
    if not near or not far:
        return float("nan")
    return float(np.mean(near) / max(np.mean(far), 1e-12))


def _edge_differences(gray: np.ndarray, x: int, y: int, w: int, h: int, offset: int) -> list:
    """Mean |difference| across each of the four edge lines moved ``offset`` px outwards, along
    the photo's extent; only lines that lie inside the image count."""
    height, width = gray.shape
    out = []
    cols, rows = slice(x, x + w), slice(y, y + h)
    for line, axis, sign in ((x, 1, -1), (x + w, 1, 1), (y, 0, -1), (y + h, 0, 1)):
        p = line + sign * offset  # the boundary between pixels p - 1 and p
        size = width if axis == 1 else height
        if not 1 <= p <= size - 1:
            continue
        if axis == 1:
            out.append(float(np.abs(gray[rows, p] - gray[rows, p - 1]).mean()))
        else:
            out.append(float(np.abs(gray[p, cols] - gray[p - 1, cols]).mean()))
    return out


def _corners(images: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The four corner blocks of each (N, H, W, 3) image: (4N, h, w, 3)."""
    h, w = size
    return np.concatenate(
        [images[:, :h, :w], images[:, :h, -w:], images[:, -h:, :w], images[:, -h:, -w:]]
    )


def evaluate_outpaint(
    model: LoadedModel,
    real: Path,
    train: Path,
    *,
    photos: int = 4,
    fraction: float = 0.5,
    steps: int = 300,
) -> OutpaintReport:
    """Outpaint the central ``fraction`` of ``photos`` reserved images (see the module)."""
    config = model.config
    frame = config.native_frame
    reserved = linear_frames(real, frame)
    ph, pw = round(frame[0] * fraction), round(frame[1] * fraction)
    corner = ((frame[0] - ph) // 2, (frame[1] - pw) // 2)
    recipe = new_recipe(config, model.hash, frame[1], frame[0], seed=0, projection="flat")
    seams, extended, psnrs = [], [], []
    with tempfile.TemporaryDirectory() as scratch:
        for index, full in enumerate(reserved[:photos]):
            y, x = (frame[0] - ph) // 2, (frame[1] - pw) // 2
            photo = np.ascontiguousarray(full[y : y + ph, x : x + pw])
            placement = place_photo(model, recipe.replace(seed=index), photo.shape, x, y)
            out = Path(scratch) / f"out{index}.exr"
            found = outpaint_to_file(
                model, photo, recipe.replace(seed=index), placement, out,
                settings=InversionSettings(steps=steps), bit_depth=32,
            )  # fmt: skip
            image = display(read_image(out))
            seams.append(photo_seam_ratio(image, x, y, pw, ph, placement.feather))
            extended.append(image)
            psnrs.append(found.psnr_db)
    generated = _corners(np.stack(extended), corner)
    reference = _corners(np.stack([display(f) for f in reserved]), corner)
    training = _corners(load_frames(train, frame, 64), corner)
    swd_extension = swd(generated, reference)
    swd_real = reference_swd(training, reference, len(generated))
    return OutpaintReport(
        photos=len(seams),
        seam=float(np.mean(seams)),
        seam_per_photo=[round(s, 4) for s in seams],
        swd_extension=swd_extension,
        swd_real=swd_real,
        swd_ratio=swd_extension / swd_real,
        redraw_psnr_db=float(np.mean(psnrs)),
    )
