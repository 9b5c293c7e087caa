"""The spectral samples the atmosphere is computed at, the sun's spectrum, and their colour.

Scattering depends strongly on wavelength (Rayleigh goes as 1/lambda^4, ozone absorbs in bands),
so light is carried as 17 spectral samples, the means of 20 nm bins from 380 to 720 nm (where
the CIE observer sees essentially everything), and turned into colour only at the end: CIE 1931
XYZ by integrating each bin against the colour-matching functions, then linear Rec. 709 (D65),
the scene-linear space of Blender. Radiance stays in W m^-2 sr^-1 "per unit of the colour
functions" (no 683 lm/W factor), the units of Blender's Sky Texture: a Y of 1 is what Blender
calls a luminance of 1.
"""

from __future__ import annotations

import numpy as np

BIN_NM = 20.0
WAVELENGTHS_NM = np.arange(390.0, 720.0, BIN_NM)
"""Centres of the 17 bins 380-400, ..., 700-720 nm."""

# fmt: off
SOLAR_IRRADIANCE = np.array([
    1.10, 1.65, 1.65, 2.00, 2.00, 1.95, 1.90, 1.88, 1.86,
    1.83, 1.77, 1.71, 1.65, 1.57, 1.51, 1.44, 1.38,
])
# fmt: on
"""Extraterrestrial solar spectral irradiance at 1 AU, W m^-2 nm^-1: 20 nm bin means of the
ASTM E-490 air-mass-zero spectrum, rounded to about 2 % (the Ca II H and K lines darken the
first bin, the G band the third)."""

XYZ_TO_REC709 = np.array(
    [
        [3.2404542, -1.5371385, -0.4985314],
        [-0.9692660, 1.8760108, 0.0415560],
        [0.0556434, -0.2040259, 1.0572252],
    ]
)
REC709_LUMINANCE = np.array([0.2126, 0.7152, 0.0722])


def _lobe(wavelength: np.ndarray, centre: float, left: float, right: float) -> np.ndarray:
    width = np.where(wavelength < centre, left, right)
    return np.exp(-0.5 * np.square((wavelength - centre) / width))


def colour_matching(wavelength: np.ndarray) -> np.ndarray:
    """(..., 3) CIE 1931 2-degree x, y, z colour-matching functions at ``wavelength`` (nm), by the
    multi-lobe fit of Wyman, Sloan and Shirley (JCGT 2013; within ~1 % of the tables)."""
    x = (
        1.056 * _lobe(wavelength, 599.8, 37.9, 31.0)
        + 0.362 * _lobe(wavelength, 442.0, 16.0, 26.7)
        - 0.065 * _lobe(wavelength, 501.1, 20.4, 26.2)
    )
    y = 0.821 * _lobe(wavelength, 568.8, 46.9, 40.5) + 0.286 * _lobe(wavelength, 530.9, 16.3, 31.1)
    z = 1.217 * _lobe(wavelength, 437.0, 11.8, 36.0) + 0.681 * _lobe(wavelength, 459.0, 26.0, 13.8)
    return np.stack([x, y, z], axis=-1)


def _spectrum_to_rec709() -> np.ndarray:
    """(3, 17): linear Rec. 709 of a spectrum given as bin means (each bin's colour-matching
    functions integrated at 1 nm)."""
    fine = np.arange(380.5, 720.0, 1.0)
    bins = ((fine - 380.0) // BIN_NM).astype(int)
    to_xyz = np.zeros((3, len(WAVELENGTHS_NM)))
    np.add.at(to_xyz.T, bins, colour_matching(fine))
    return XYZ_TO_REC709 @ to_xyz


SPECTRUM_TO_REC709 = _spectrum_to_rec709()


def to_rec709(spectrum: np.ndarray) -> np.ndarray:
    """(..., 3) linear Rec. 709 of (..., 17) spectral radiance or irradiance (bin means)."""
    return spectrum @ SPECTRUM_TO_REC709.T
