"""Errors a user can cause. The CLI and the Blender add-on print their message as one line."""


class BackdropError(Exception):
    """Base class: a problem with the user's input or environment, not a bug."""


class ModelError(BackdropError):
    """The model file is missing, corrupt or incompatible."""


class RequestError(BackdropError):
    """The render request is invalid (size, wrap, window, styles)."""


class OutputError(BackdropError):
    """The output cannot be written (bad path, unwritable folder, disk full)."""


class Cancelled(BackdropError):
    """The caller asked the render to stop; nothing was written."""
