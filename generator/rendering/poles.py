"""Equirectangular poles: fade horizontal detail so the zenith and nadir do not pinch.

A row of an equirect image at elevation phi is a circle of circumference cos(phi) on the sphere, so
horizontal detail the generator draws at a constant density gets squeezed into a star-shaped pinch
near the poles. Above ``CAP_START_DEG`` each row is blurred around its circle (a circular Gaussian
applied in the Fourier domain, so it stays exactly periodic and never goes negative) whose width
grows like 1 / cos(phi) and reaches the whole circle at the first and last row, which become
exactly constant. The fade starts with zero slope, so the transition is smooth in a 360-degree
view. Each row is filtered on its own: a band of full-width rows is all it needs.
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
    f = fade[capped][:, None]
    # A circular Gaussian blur whose width grows from 0 to the whole circle: a positive kernel, so
    # bright suns cannot ring into negative radiance, and at the outermost rows only the mean stays.
    sigma = f / np.maximum(1.0 - f, 1e-12) / np.cos(np.radians(elevation[capped]))[:, None]
    offset = np.arange(width)
    distance = np.minimum(offset, width - offset)[None, :]
    kernel = np.exp(-0.5 * np.square(distance / np.maximum(sigma, 1e-12)))
    gain = np.fft.rfft(kernel / kernel.sum(axis=1, keepdims=True), axis=1).real
    gain[f[:, 0] >= 1.0, 1:] = 0.0
    spectrum = np.fft.rfft(band[capped].astype(np.float64), axis=1)
    blurred = np.fft.irfft(spectrum * gain[:, :, None], n=width, axis=1)
    out[capped] = np.maximum(blurred, 0.0)  # only FFT round-off (~1e-16) can dip below zero
    return out
