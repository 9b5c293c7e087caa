"""Where the sun is in the sky at a moment and place: NOAA's solar position algorithm.

The low-precision solar coordinates of Meeus (Astronomical Algorithms, ch. 25), as NOAA's solar
calculator uses them: good to about 0.01 degree for years 1800-2100, far finer than the disc.
The elevation is the apparent one (Saemundsson's refraction for a standard atmosphere), which is
where the disc is seen: half a degree higher than the geometric position at the horizon.
"""

from __future__ import annotations

import datetime as dt
import math

J2000 = dt.datetime(2000, 1, 1, 12, tzinfo=dt.UTC)


def _refraction_deg(elevation: float) -> float:
    """How much higher the air shows the sun than it is (0 well below the horizon)."""
    if elevation < -1.0:
        return 0.0
    return 1.02 / math.tan(math.radians(elevation + 10.3 / (elevation + 5.11))) / 60.0


def solar_position(when: dt.datetime, latitude: float, longitude: float) -> tuple[float, float]:
    """(apparent elevation, azimuth) in degrees of the sun seen from ``latitude``, ``longitude``
    (degrees, north and east positive) at ``when`` (time-zone aware); azimuth clockwise from
    north."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError("the time must carry its time zone (for example datetime.UTC)")
    days = (when - J2000).total_seconds() / 86400.0
    t = days / 36525.0  # Julian centuries since J2000
    mean_longitude = math.radians((280.46646 + t * (36000.76983 + t * 0.0003032)) % 360.0)
    anomaly = math.radians(357.52911 + t * (35999.05029 - t * 0.0001537))
    eccentricity = 0.016708634 - t * (0.000042037 + t * 0.0000001267)
    centre = (
        math.sin(anomaly) * (1.914602 - t * (0.004817 + t * 0.000014))
        + math.sin(2 * anomaly) * (0.019993 - t * 0.000101)
        + math.sin(3 * anomaly) * 0.000289
    )
    node = math.radians(125.04 - 1934.136 * t)
    longitude_sun = math.radians(
        math.degrees(mean_longitude) + centre - 0.00569 - 0.00478 * math.sin(node)
    )
    seconds = 21.448 - t * (46.815 + t * (0.00059 - t * 0.001813))
    obliquity = math.radians(23.0 + (26.0 + seconds / 60.0) / 60.0 + 0.00256 * math.cos(node))
    declination = math.asin(math.sin(obliquity) * math.sin(longitude_sun))
    y = math.tan(obliquity / 2.0) ** 2
    equation_of_time = 4.0 * math.degrees(
        y * math.sin(2 * mean_longitude)
        - 2 * eccentricity * math.sin(anomaly)
        + 4 * eccentricity * y * math.sin(anomaly) * math.cos(2 * mean_longitude)
        - 0.5 * y * y * math.sin(4 * mean_longitude)
        - 1.25 * eccentricity**2 * math.sin(2 * anomaly)
    )  # minutes
    utc = when.astimezone(dt.UTC)
    minutes = utc.hour * 60.0 + utc.minute + (utc.second + utc.microsecond / 1e6) / 60.0
    solar_minutes = minutes + equation_of_time + 4.0 * longitude
    hour_angle = math.radians(solar_minutes / 4.0 - 180.0)
    lat = math.radians(latitude)
    sin_elevation = math.sin(lat) * math.sin(declination) + math.cos(lat) * math.cos(
        declination
    ) * math.cos(hour_angle)
    elevation = math.degrees(math.asin(max(-1.0, min(1.0, sin_elevation))))
    azimuth = math.degrees(
        math.atan2(
            math.sin(hour_angle),
            math.cos(hour_angle) * math.sin(lat) - math.tan(declination) * math.cos(lat),
        )
    )
    return elevation + _refraction_deg(elevation), (azimuth + 180.0) % 360.0
