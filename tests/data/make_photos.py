"""Regenerate tests/data/photos from the CC0 Poly Haven HDRIs that ship inside the bpy wheel.

Real photographs, reduced to a few kilobytes: horizon bands of the equirect HDRIs, exposed and
tone-mapped to sRGB JPEGs, one 16-bit PNG and one small half-float EXR, plus deliberately broken
files (truncated JPEG, text named .jpg, a 6x6 image) that the trainer must skip.

    python tests/data/make_photos.py
"""

from __future__ import annotations

from pathlib import Path

import bpy
import numpy as np
from PIL import Image

from generator.files.imagefile import linear_to_srgb, open_image_writer, read_image

HERE = Path(__file__).parent / "photos"
SCENES = ("city", "forest", "sunrise", "sunset", "night")


def _hdri(name: str) -> np.ndarray:
    folder = Path(bpy.utils.system_resource("DATAFILES", path="studiolights/world"))
    return read_image(folder / f"{name}.exr")


def _band(image: np.ndarray, left: int) -> np.ndarray:
    """A 2:1 horizon band (elevation +-45 degrees) starting at column ``left``, 128x64 px."""
    band = np.roll(image[128:384], -left, axis=1)[:, :512]
    small = band.reshape(64, 4, 128, 4, 3).mean(axis=(1, 3))
    return small / np.percentile(small, 90)


def main() -> None:
    HERE.mkdir(parents=True, exist_ok=True)
    for index, name in enumerate(SCENES):
        for shift in (0, 512):
            pixels = linear_to_srgb(np.clip(_band(_hdri(name), shift + 97 * index), 0, 1))
            rgb = (pixels * 255 + 0.5).astype(np.uint8)
            Image.fromarray(rgb).save(HERE / f"{name}-{shift}.jpg", quality=88)
    (HERE / "hdr").mkdir(exist_ok=True)
    hdr = _band(_hdri("sunset"), 256)[::2, ::2] * 4.0
    outputs = {"sunset.exr": hdr, "sunset-16bit.PNG": np.clip(hdr, 0, 1)}
    for name, image in outputs.items():
        path, depth = HERE / "hdr" / name, 16
        with open_image_writer(path, image.shape[1], image.shape[0], bit_depth=depth) as writer:
            writer.write_rows(image.astype(np.float32))
            writer.commit()
    good = (HERE / "city-0.jpg").read_bytes()
    (HERE / "broken-truncated.jpg").write_bytes(good[: len(good) // 3])
    (HERE / "notes.jpg").write_text("not an image\n", encoding="utf-8")
    Image.new("RGB", (6, 6), (90, 120, 200)).save(HERE / "tiny.png")


if __name__ == "__main__":
    main()
