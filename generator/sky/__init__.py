"""Skies from physics: a clear atmosphere, a learned cloud layer and a textured ground, each a
function of the view direction, so any resolution, window, tile, wrap seam or pole of an output
stays exact.

    from generator.sky import SkySettings, clear_sky, equirect_directions, sun_light
    settings = SkySettings(sun_elevation=10.0, sun_azimuth=30.0, sun_disc=False)
    sky = clear_sky(equirect_directions(4096, 2048), settings)  # (2048, 4096, 3) radiance
    lamp = sun_light(settings)  # direction, angular diameter, colour, strength (W/m^2)

A composed sky (``SkyComposition``: the atmosphere, ``CloudSettings``, ``CirrusSettings``,
``GroundSettings``) goes to
an image with ``render_sky_to_file(SkyRecipe(...), path)``, as ``python -m generator sky`` does.
"""

from generator.sky.atmosphere import (
    SkySettings,
    SunLight,
    clear_sky,
    direction,
    equirect_directions,
    sun_light,
)
from generator.sky.cirrus import CirrusSettings
from generator.sky.cloudmap import density_from_photo, density_to_image
from generator.sky.compose import SkyComposition
from generator.sky.horizon import HorizonSettings
from generator.sky.layers import CloudSettings, GroundSettings, layer_density, model_tile
from generator.sky.skyfile import (
    CLEAR_KEY,
    LAMP_KEY,
    SKY_KEY,
    PreparedLayers,
    SkyRecipe,
    forget_layers,
    meter,
    read_sky_recipe,
    render_sky_array,
    render_sky_to_file,
    tone_map,
)
from generator.sky.spectrum import REC709_LUMINANCE
from generator.sky.strip import StripCamera, perspective_directions
from generator.sky.sunposition import solar_position

__all__ = [
    "CLEAR_KEY",
    "LAMP_KEY",
    "REC709_LUMINANCE",
    "SKY_KEY",
    "CirrusSettings",
    "CloudSettings",
    "GroundSettings",
    "HorizonSettings",
    "PreparedLayers",
    "SkyComposition",
    "SkyRecipe",
    "SkySettings",
    "StripCamera",
    "SunLight",
    "clear_sky",
    "density_from_photo",
    "density_to_image",
    "direction",
    "equirect_directions",
    "forget_layers",
    "layer_density",
    "meter",
    "model_tile",
    "perspective_directions",
    "read_sky_recipe",
    "render_sky_array",
    "render_sky_to_file",
    "solar_position",
    "sun_light",
    "tone_map",
]
