"""Endless Backdrops for Blender: seamless skies, tileable terrain and matte paintings.

This package is the extension itself: the build copies it to the root of the extension zip, next to
``blender_manifest.toml``, and bundles the ``generator`` package as a wheel. Inside Blender it is
imported as ``bl_ext.<repository>.endless_backdrops``; from the repository (tests, scripts) as
``addon``. Its modules import each other relatively and the generator absolutely, so both work.
"""

from __future__ import annotations

from . import backend, jobs, operators, panels, preferences, properties, saving

_MODULES = (preferences, properties, operators, panels, saving)


def register() -> None:
    for module in _MODULES:
        module.register()


def unregister() -> None:
    jobs.cancel_active()
    for module in reversed(_MODULES):
        module.unregister()
    backend.forget()
