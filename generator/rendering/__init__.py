"""From a model and a recipe to pixels, streamed in bands.

``make_renderer`` (``pick``) is the one entry point that picks the renderer:
``SphereRenderer`` (``sphere``) for a 360-degree sky of a sky model, ``ScaledRenderer``
(``scaled``) for a flat canvas above the native scale, ``CanvasRenderer`` (``render``) for the
rest, which every other one draws its native canvas with. ``output`` streams any of them to a
file with the recipe embedded; ``parallel`` splits one canvas over processes. Around them: the
tile plan (``planning``), CPU workers and the process-wide settings they hold (``workers``,
``heap``, ``shared_setting``), progress, exact resampling, the poles and the sun disc of
equirect skies, and outpainting a photo (``inversion``, ``outpaint``).
"""

from generator.rendering.inversion import QUALITY_STEPS, InversionSettings
from generator.rendering.outpaint import outpaint_to_file, place_photo
from generator.rendering.output import read_recipe, render_array, render_to_file
from generator.rendering.pick import make_renderer
from generator.rendering.progress import ProgressEstimate
from generator.rendering.render import BandRenderer, CanvasRenderer
from generator.rendering.scaled import ScaledRenderer
from generator.rendering.sphere import SphereRenderer
from generator.rendering.sun import add_sun

__all__ = [
    "QUALITY_STEPS",
    "BandRenderer",
    "CanvasRenderer",
    "InversionSettings",
    "ProgressEstimate",
    "ScaledRenderer",
    "SphereRenderer",
    "add_sun",
    "make_renderer",
    "outpaint_to_file",
    "place_photo",
    "read_recipe",
    "render_array",
    "render_to_file",
]
