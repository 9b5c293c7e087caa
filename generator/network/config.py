"""The model configuration: the one source of truth for every shape and hyper-parameter.

Stored as JSON inside every model file, so a model file alone is enough to rebuild its network.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from generator.errors import ModelError

COLOR_SPACES = ("srgb", "log")
BAND_DEGREES = 16.0
"""Degrees a horizon band's height spans (``tools/horizon_bands.py``: 8 above the horizon to 8
below): the scale of a landscape model whose config does not record its own."""


@dataclass(frozen=True)
class ModelConfig:
    """Widths, depths, latent sizes and coordinate frame of a generator.

    Spatial units: one latent cell is ``2 ** upsampling_stages`` output pixels.
    """

    zg_dim: int = 512
    """Global latent size (one vector per image or per fused style)."""
    zl_dim: int = 256
    """Local latent channels, sampled i.i.d. per latent cell."""
    w_dim: int = 512
    """Output size of the mapping MLP that turns zg into Gt's styles."""
    mapping_layers: int = 8
    gs_width: int = 256
    """Channels of the structure synthesizer Gs."""
    gs_layers: int = 4
    gs_kernel: int = 3
    """k of the k x k feature unfolding in Gs (odd)."""
    gt_channels: tuple[int, ...] = (512, 512, 256, 128, 64)
    """Gt widths: level 0 (latent resolution), then one entry per 2x upsampling stage."""
    period: float = 64.0
    """Period T, in latent cells, of the horizontal sin/cos coordinate encoding."""
    native_height: int = 16
    """Height, in latent cells, of the full training image: the vertical coordinate's frame."""
    native_width: int = 32
    """Width, in latent cells, of the full training image (the default canvas width)."""
    sphere: bool = False
    """The native frame is the whole sphere (trained on 2:1 equirect panoramas): an equirect
    render draws that frame and resamples it to the requested size
    (``generator.rendering.sphere``)."""
    vertical_conditioning: bool = True
    """Whether Gs sees the vertical coordinate. Models without it can tile on a torus."""
    horizontal_conditioning: bool = True
    """Whether Gs sees the sin/cos horizontal coordinate. Textures without a direction (ground
    seen from above) leave both off: then nothing can tie their content to a position."""
    color_space: str = "srgb"
    """'srgb': output in [-1, 1] is sRGB-encoded; 'log': output is log2 of linear radiance."""
    log_stops: float = 8.0
    """For 'log' models: output 1.0 means ``log_stops`` stops (linear = 2 ** (out * log_stops))."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Free-form notes (e.g. native scale, preset name) carried with the model."""
    alpha: bool = False
    """Gt draws a fourth channel, coverage (a landscape band's land over the sky it leaves to
    the physical sky): in the model's space 2 * coverage - 1, on the colours' scale, so the
    discriminators see all four channels alike; renders hold it as coverage in [0, 1]
    (``generator.files.colorspace.model_to_output``). Left out of the JSON when off, so a
    model file without it is the same file as before the setting existed."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "gt_channels", tuple(int(c) for c in self.gt_channels))
        problems = []
        for name in ("zg_dim", "zl_dim", "w_dim", "mapping_layers", "gs_width", "gs_layers"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1")
        if self.gs_kernel < 1 or self.gs_kernel % 2 == 0:
            problems.append("gs_kernel must be a positive odd number")
        if not self.gt_channels or min(self.gt_channels) < 1:
            problems.append("gt_channels must list at least one positive width")
        if self.period <= 0:
            problems.append("period must be > 0")
        if self.native_height < 1 or self.native_width < 1:
            problems.append("native_height and native_width must be >= 1")
        if self.sphere and self.native_width != 2 * self.native_height:
            problems.append("a sphere model's native frame is 2:1 (native_width = 2 x height)")
        if self.alpha and (self.sphere or self.color_space != "srgb"):
            problems.append("a model with alpha draws land from photos: srgb, not a sphere")
        if self.color_space not in COLOR_SPACES:
            problems.append(f"color_space must be one of {', '.join(COLOR_SPACES)}")
        if problems:
            raise ModelError("invalid model config: " + "; ".join(problems))

    @property
    def upsampling_stages(self) -> int:
        return len(self.gt_channels) - 1

    @property
    def pixels_per_cell(self) -> int:
        """Output pixels per latent cell along each axis."""
        return 2**self.upsampling_stages

    @property
    def native_frame(self) -> tuple[int, int]:
        """(height, width) in pixels of the frame the model is trained on: its native scale."""
        ppc = self.pixels_per_cell
        return self.native_height * ppc, self.native_width * ppc

    @property
    def coord_channels(self) -> int:
        """Coordinate channels concatenated at every Gs layer: (y), (sin x, cos x)."""
        return int(self.vertical_conditioning) + 2 * int(self.horizontal_conditioning)

    @property
    def degrees_per_pixel(self) -> float:
        """A landscape model's pixel as an angle (its bands' scale): ``extra`` records it, else
        its native frame's height spans a horizon band's ``BAND_DEGREES``."""
        return float(self.extra.get("degrees_per_pixel", BAND_DEGREES / self.native_frame[0]))

    @property
    def channels(self) -> int:
        """Output channels: RGB, or RGBA for a model with ``alpha``."""
        return 4 if self.alpha else 3

    def to_json(self) -> str:
        data = dataclasses.asdict(self)
        if not self.alpha:
            del data["alpha"]
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelConfig:
        try:
            data = json.loads(text)
        except (TypeError, ValueError) as err:
            raise ModelError(f"model config is not valid JSON ({err})") from None
        if not isinstance(data, dict):
            raise ModelError("model config must be a JSON object")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ModelError(f"model config has unknown fields {unknown}: made by a newer version?")
        try:
            return cls(**data)
        except TypeError as err:
            raise ModelError(f"model config is invalid ({err})") from None


PRESETS: dict[str, ModelConfig] = {
    # Random-weight tests and CPU smoke runs: a few thousand parameters, 4 px per latent cell.
    "tiny": ModelConfig(
        zg_dim=16,
        zl_dim=8,
        w_dim=16,
        mapping_layers=2,
        gs_width=16,
        gs_layers=2,
        gt_channels=(32, 16, 16),
        period=16.0,
        native_height=8,
        native_width=16,
        extra={"preset": "tiny"},
    ),
    # The paper's widths (Gs 256, zl 256, zg 512, Gt 512..64), 16 px per latent cell.
    "paper": ModelConfig(extra={"preset": "paper"}),
}
