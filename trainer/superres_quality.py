"""How well a sky model's super-resolution stage works (``python -m trainer evaluate-sr``).

- Scale consistency: the same seed rendered at 4x and at 1x the reference width (2048 by
  default); the big one, box-downsampled, against the small one: PSNR in the tone-mapped display
  space (target >= 30 dB). More detail must not change the picture.
- Detail: the upper hemisphere of skies rendered at 4x the native scale against real sky
  panoramas at that scale (``--real``, reserved), SWD over the two finest Laplacian levels, as a
  ratio to the same SWD between as many training panoramas (``--train``) and the reserved ones
  (``trainer.evaluate.reference_swd``; target <= 1.5); the same ratio with the stage switched
  off (plain cubic resampling) is the baseline it must beat.
- Speed: megapixels per second of the stage itself.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from generator.files import LoadedModel, load_linear, new_recipe
from generator.network import upscale
from generator.rendering import render_array
from trainer.data import scan_folder, upper_hemisphere
from trainer.evaluate import display, reference_swd, swd

FINE_LEVELS = (0, 1)


@dataclass
class SuperResReport:
    consistency_psnr_db: float
    swd_fine_stage: float
    swd_fine_cubic: float
    swd_fine_real: float
    ratio_stage: float
    ratio_cubic: float
    stage_mp_per_s: float
    samples: int

    def lines(self) -> list[str]:
        return [
            f"scale consistency (4x down vs 1x): {self.consistency_psnr_db:.1f} dB  (target >= 30)",
            f"fine-detail SWD ratio, with stage: {self.ratio_stage:.3f}  (target <= 1.5)",
            f"fine-detail SWD ratio, cubic only: {self.ratio_cubic:.3f}  (the stage must beat it)",
            f"  SWD stage {self.swd_fine_stage:.4f}, cubic {self.swd_fine_cubic:.4f}, "
            f"training/real {self.swd_fine_real:.4f}",
            f"stage throughput:                  {self.stage_mp_per_s:.2f} MP/s (output)",
        ]


def _hemispheres(folder: Path, frame: tuple[int, int]) -> np.ndarray:
    files = [info.path for info in scan_folder(folder, min_side=8, workers=0).good]
    return np.stack([display(upper_hemisphere(load_linear(f, cover=(1, frame[1])), frame))
                     for f in files])  # fmt: skip


def evaluate_superres(
    model: LoadedModel, real: Path, train: Path, *, samples: int = 4, width: int = 2048
) -> SuperResReport:
    """Measure ``model``'s stage (see the module); ``width`` is the 1x reference width."""
    config = model.config
    native = config.native_frame[1]
    detail_width = 4 * native

    def sky(seed: int, w: int, stage: bool) -> np.ndarray:
        recipe = new_recipe(config, model.hash, w, w // 2, seed=seed, wrap="x",
                            projection="equirect").replace(superres=stage)  # fmt: skip
        return display(render_array(model, recipe))

    psnrs = []
    for seed in range(samples):
        small, big = sky(seed, width, True), sky(seed, 4 * width, True)
        down = big.reshape(width // 2, 4, width, 4, 3).mean(axis=(1, 3))
        psnrs.append(10.0 * np.log10(1.0 / max(np.mean((down - small) ** 2), 1e-12)))
    frame = (detail_width // 2, detail_width)
    reserved = _hemispheres(real, frame)
    half = detail_width // 4
    with_stage = np.stack([sky(s, detail_width, True)[:half] for s in range(samples)])
    cubic = np.stack([sky(s, detail_width, False)[:half] for s in range(samples)])
    real_vs_real = reference_swd(_hemispheres(train, frame), reserved, samples, levels=FINE_LEVELS)
    swd_stage = swd(with_stage, reserved, levels=FINE_LEVELS)
    swd_cubic = swd(cubic, reserved, levels=FINE_LEVELS)
    canvas = np.zeros((native // 2, native, 3), dtype=np.float32)
    start = time.perf_counter()
    upscale(model.superres, canvas, seed=0, stage=0, wrap=(False, True))
    seconds = time.perf_counter() - start
    return SuperResReport(
        consistency_psnr_db=float(np.mean(psnrs)),
        swd_fine_stage=swd_stage,
        swd_fine_cubic=swd_cubic,
        swd_fine_real=real_vs_real,
        ratio_stage=swd_stage / real_vs_real,
        ratio_cubic=swd_cubic / real_vs_real,
        stage_mp_per_s=4 * canvas.shape[0] * canvas.shape[1] / 1e6 / seconds,
        samples=samples,
    )
