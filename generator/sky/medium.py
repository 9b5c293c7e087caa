"""What the air is made of: scattering and absorption by molecules, aerosols and ozone.

Lengths are in km, coefficients per km, one value per spectral sample of ``spectrum``.

- Molecules (Rayleigh): the cross-section from the refractive index of standard air (Peck and
  Reeder's dispersion, King factor 1.048), at the sea-level density of the standard atmosphere
  (15 degrees C, 1 atm); an exponential profile whose scale height keeps the standard column
  (2.15e29 molecules m^-2), so the vertical optical depth at 550 nm is 0.097.
- Aerosols (Mie): a clean continental background, optical depth 0.019 at 550 nm in a 0.73 km
  layer, Angstrom exponent 1.1, single-scattering albedo 0.97, Cornette-Shanks phase with
  g = 0.8: the same air as Blender's Sky Texture at aerosol density 1 (its default), so that
  ``haze`` means what Blender's aerosol density means.
- Ozone: 300 Dobson units in a layer peaking at 25 km (a 30 km-wide tent); absorption
  cross-sections of the Chappuis band (Serdyuchenko et al. 2014, 293 K, 20 nm bin means).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from generator.sky.spectrum import WAVELENGTHS_NM

EARTH_RADIUS_KM = 6371.0
ATMOSPHERE_KM = 100.0
TOP_RADIUS_KM = EARTH_RADIUS_KM + ATMOSPHERE_KM

SEA_LEVEL_AIR_PER_M3 = 2.547e25
AIR_SCALE_HEIGHT_KM = 8.43
KING_FACTOR = 1.048

AEROSOL_DEPTH_550 = 0.019
AEROSOL_SCALE_HEIGHT_KM = 0.73
ANGSTROM_EXPONENT = 1.1
AEROSOL_ALBEDO = 0.97
MIE_G = 0.8

OZONE_DOBSON = 300.0
MOLECULES_PER_DOBSON_M2 = 2.687e20
OZONE_PEAK_KM = 25.0
OZONE_HALF_WIDTH_KM = 15.0
# fmt: off
OZONE_CROSS_SECTION_M2 = 1e-25 * np.array([
    0.003, 0.015, 0.085, 0.23, 0.49, 1.05, 1.75, 2.75, 3.5,
    4.6, 4.7, 4.3, 3.2, 2.24, 1.47, 0.94, 0.66,
])
# fmt: on


def rayleigh_sea_level() -> np.ndarray:
    """(17,) molecular scattering coefficient of sea-level air, per km."""
    inverse_um2 = np.square(1000.0 / WAVELENGTHS_NM)
    n_minus_1 = 1e-8 * (5791817.0 / (238.0185 - inverse_um2) + 167909.0 / (57.362 - inverse_um2))
    ratio = ((1.0 + n_minus_1) ** 2 - 1.0) / ((1.0 + n_minus_1) ** 2 + 2.0)
    wavelength_m = WAVELENGTHS_NM * 1e-9
    per_m = 24.0 * np.pi**3 * ratio**2 / (wavelength_m**4 * SEA_LEVEL_AIR_PER_M3) * KING_FACTOR
    return per_m * 1000.0


@dataclass(frozen=True)
class Medium:
    """Coefficients (17,) per km at unit density, scaled by the settings' multipliers; the
    densities of each constituent are functions of altitude."""

    rayleigh: np.ndarray
    aerosol_scattering: np.ndarray
    aerosol_extinction: np.ndarray
    ozone_absorption: np.ndarray

    @classmethod
    def of(cls, air: float, haze: float, ozone: float) -> Medium:
        aerosol = (
            haze
            * AEROSOL_DEPTH_550
            / AEROSOL_SCALE_HEIGHT_KM
            * (WAVELENGTHS_NM / 550.0) ** -ANGSTROM_EXPONENT
        )
        column = ozone * OZONE_DOBSON * MOLECULES_PER_DOBSON_M2
        return cls(
            rayleigh=air * rayleigh_sea_level(),
            aerosol_scattering=aerosol * AEROSOL_ALBEDO,
            aerosol_extinction=aerosol,
            ozone_absorption=OZONE_CROSS_SECTION_M2 * column / OZONE_HALF_WIDTH_KM,
        )

    def densities(self, altitude_km: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Relative densities of air, aerosol and ozone at ``altitude_km`` (each (..., 1))."""
        h = np.maximum(np.asarray(altitude_km, dtype=np.float64), 0.0)[..., None]
        air = np.exp(-h / AIR_SCALE_HEIGHT_KM)
        aerosol = np.exp(-h / AEROSOL_SCALE_HEIGHT_KM)
        ozone = np.maximum(1.0 - np.abs(h - OZONE_PEAK_KM) / OZONE_HALF_WIDTH_KM, 0.0)
        return air, aerosol, ozone

    def at(self, altitude_km: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(..., 17) Rayleigh scattering, aerosol scattering and total extinction at
        ``altitude_km``."""
        air, aerosol, ozone = self.densities(altitude_km)
        rayleigh = air * self.rayleigh
        mie = aerosol * self.aerosol_scattering
        extinction = rayleigh + aerosol * self.aerosol_extinction + ozone * self.ozone_absorption
        return rayleigh, mie, extinction


def rayleigh_phase(cosine: np.ndarray) -> np.ndarray:
    return 3.0 / (16.0 * np.pi) * (1.0 + np.square(cosine))


def mie_phase(cosine: np.ndarray) -> np.ndarray:
    """Cornette-Shanks: Henyey-Greenstein made symmetric like the dipole, normalised."""
    g2 = MIE_G * MIE_G
    denominator = (2.0 + g2) * (1.0 + g2 - 2.0 * MIE_G * cosine) ** 1.5
    return 3.0 / (8.0 * np.pi) * (1.0 - g2) * (1.0 + np.square(cosine)) / denominator
