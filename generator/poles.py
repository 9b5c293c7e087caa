"""Equirectangular poles: fade horizontal detail so the zenith and nadir do not pinch.

A row of an equirect image at elevation phi is a circle of circumference cos(phi) on the sphere, so
horizontal detail the generator draws at a constant density gets squeezed into a star-shaped pinch
near the poles. Above ``CAP_START_DEG`` each row is low-passed around its circle (in the Fourier
domain, so it stays exactly periodic) with a cut-off that shrinks with cos(phi) and reaches zero at
the first and last row, which become exactly constant. The fade starts with zero slope, so the
transition is smooth in a 360-degree view. Each row is filtered on its own: a band of full-width
rows is all it needs.
"""

from __future__ import annotations

import numpy as np

CAP_START_DEG = 60.0


def row_elevation(rows: np.ndarray, height: int) -> np.ndarray:
    """Elevation in degrees of row centres of an equirect canvas of ``height`` rows."""
    return 90.0 - (np.asarray(rows, dtype=np.float64) + 0.5) * 180.0 / height


def _fade(elevation: np.ndarray, height: int) -> np.ndarray:
    """0 below the cap, rising smoothly to exactly 1 at the outermost row's centre."""
    edge = 90.0 - 90.0 / height
    t = np.clip((np.abs(elevation) - CAP_START_DEG) / max(edge - CAP_START_DEG, 1e-9), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def soften_poles(band: np.ndarray, first_row: int, height: int) -> np.ndarray:
    """Filter the cap rows of a band of full-width rows starting at canvas row ``first_row``."""
    rows = np.arange(first_row, first_row + band.shape[0])
    elevation = row_elevation(rows, height)
    fade = _fade(elevation, height)
    capped = np.nonzero(fade > 0.0)[0]
    if capped.size == 0:
        return band
    out = band.copy()
    width = band.shape[1]
    freq = np.arange(width // 2 + 1, dtype=np.float64)
    spectrum = np.fft.rfft(band[capped].astype(np.float64), axis=1)
    f = fade[capped][:, None]
    circle = (width / 2.0) * np.cos(np.radians(elevation[capped]))[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = freq[None, :] * f / (circle * (1.0 - f))  # cut-off -> 0 as the fade reaches 1
    gain = np.exp(-np.square(ratio))
    gain[:, 0] = 1.0
    out[capped] = np.fft.irfft(spectrum * gain[:, :, None], n=width, axis=1).astype(band.dtype)
    return out
