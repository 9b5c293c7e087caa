"""Skies from physics: a clear atmosphere (and, later, clouds and ground) as functions of the view
direction, so any resolution, window, tile, wrap seam or pole of an output stays exact.

    from generator.sky import SkySettings, clear_sky, equirect_directions, sun_light
    settings = SkySettings(sun_elevation=10.0, sun_azimuth=30.0, sun_disc=False)
    sky = clear_sky(equirect_directions(4096, 2048), settings)  # (2048, 4096, 3) radiance
    lamp = sun_light(settings)  # direction, angular diameter, colour, strength (W/m^2)
"""

from generator.sky.atmosphere import (
    SkySettings,
    SunLight,
    clear_sky,
    direction,
    equirect_directions,
    sun_light,
)
from generator.sky.sunposition import solar_position

__all__ = [
    "SkySettings",
    "SunLight",
    "clear_sky",
    "direction",
    "equirect_directions",
    "solar_position",
    "sun_light",
]
