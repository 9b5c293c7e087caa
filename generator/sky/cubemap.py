"""Cube-map faces: the directions of their pixels, so that faces meet exactly.

Faces follow the OpenGL cube-map convention in the sky's frame (y up, z toward azimuth 0, x to
its right): pixel (i, j) of a face of N looks along major + u * right + v * down with
u = 2 (j + 0.5) / N - 1 and v = 2 (i + 0.5) / N - 1. The length is sqrt((u u + v v) + 1), in
that order, so a point on an edge shared by two faces gets bit-identical directions from both
(the sums are commutative and the edge's coordinate is exactly 1): the same direction, the
same value.
"""

from __future__ import annotations

import numpy as np

FACES = {
    "px": ((1, 0, 0), (0, 0, -1), (0, -1, 0)),
    "nx": ((-1, 0, 0), (0, 0, 1), (0, -1, 0)),
    "py": ((0, 1, 0), (1, 0, 0), (0, 0, 1)),
    "ny": ((0, -1, 0), (1, 0, 0), (0, 0, -1)),
    "pz": ((0, 0, 1), (1, 0, 0), (0, -1, 0)),
    "nz": ((0, 0, -1), (-1, 0, 0), (0, -1, 0)),
}
"""Face name -> (major axis, right, down)."""


def face_directions(face: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """(..., 3) unit directions of face coordinates ``u`` (right) and ``v`` (down) in -1..1."""
    major, right, down = (np.asarray(a, dtype=np.float64) for a in FACES[face])
    u, v = np.broadcast_arrays(np.asarray(u, np.float64), np.asarray(v, np.float64))
    length = np.sqrt((u * u + v * v) + 1.0)
    d = major + u[..., None] * right + v[..., None] * down
    return d / length[..., None]


def face_pixel_directions(face: str, size: int, rows: np.ndarray) -> np.ndarray:
    """(len(rows), size, 3) directions of pixel centres of rows ``rows`` of a ``size`` face."""
    u = (np.arange(size) + 0.5) * (2.0 / size) - 1.0
    v = (np.asarray(rows) + 0.5) * (2.0 / size) - 1.0
    return face_directions(face, u[None, :], v[:, None])
