"""Errors raised on bad input: one clear message naming the file, row or field."""

from __future__ import annotations

from pathlib import Path


class QuarterhourError(Exception):
    """Base class of every error quarterhour raises on purpose."""


class InputError(QuarterhourError, ValueError):
    """Bad user input: a file, a row, a field or an option.

    The message is complete on its own (it names the file, row or field), so the command
    line prints it as one line and the API returns it in a 4xx JSON body.
    """


class NetworkError(QuarterhourError):
    """The walking network cannot be built or used (no walkable ways, point off the network)."""


def require_file(path: str | Path, *, what: str) -> Path:
    """Return ``path`` as a Path if it is an existing file, else raise InputError naming it.

    Parameters
    ----------
    path
        The file a user named.
    what
        What the file should hold, for the message ("boundary", "communities" ...).
    """
    file_path = Path(path)
    if not file_path.is_file():
        msg = f"{file_path.name}: {what} file not found ({file_path})"
        raise InputError(msg)
    return file_path
