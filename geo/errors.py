"""Errors raised on bad input: one clear message naming the file, row, field or parameter."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from types import ModuleType


class QuarterhourError(Exception):
    """Base class of every error quarterhour raises on purpose.

    Parameters
    ----------
    message
        The complete message (it names the file, row or field).
    param
        The library parameter at fault (``"minutes"``, ``"speed_kmh"`` ...), if one is: the
        command line and the HTTP service name their own option or field instead
        (``--minutes``, ``body.minutes``). The message starts with the parameter, or writes it
        where it says ``{param}`` (``crs=gcj02`` in Python, ``--crs gcj02`` on the command line).
    """

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param

    def __str__(self) -> str:
        return self._spelled(f"{self.param}=" if self.param else "", self.param or "")

    def for_command_line(self) -> str:
        """The message with the parameter written as the command line's option."""
        option = f"--{(self.param or '').replace('_', '-')}"
        return self._spelled(f"{option} ", option)

    def _spelled(self, assignment: str, name: str) -> str:
        if "{param}" in self.message:
            return self.message.replace("{param}", assignment)
        return f"{name} {self.message}" if self.param else self.message


class InputError(QuarterhourError, ValueError):
    """Bad user input: a file, a row, a field or an option.

    The message is complete on its own (it names the file, row or field), so the command
    line prints it as one line and the API returns it in a 4xx JSON body.
    """


class NetworkError(QuarterhourError):
    """The walking network cannot be built or used (no walkable ways, point off the network)."""


class TooLargeError(QuarterhourError):
    """The work asked for is larger than the configured bounds (pairs, memory)."""


class TimeLimitError(QuarterhourError):
    """The time budget ran out before any answer was ready."""


class MissingExtraError(QuarterhourError, ImportError):
    """A feature needs an optional part of quarterhour that is not installed."""


EXTRAS: dict[str, str] = {
    "serve": "the web service (quarterhour serve)",
    "report": "the report (PDF and HTML)",
    "notebooks": "the notebook maps",
    "osmnx": "downloading networks with osmnx",
}
"""The optional parts (pip extras) of quarterhour and what needs them."""


def import_extra(module: str, extra: str) -> ModuleType:
    """Import ``module``, or raise one clear error naming the pip command that installs it.

    Parameters
    ----------
    module
        The module to import (``"fastapi"``, ``"weasyprint"`` ...).
    extra
        The quarterhour extra that provides it (a key of ``EXTRAS``).
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        msg = (
            f"{EXTRAS[extra]} needs the '{extra}' extra ({module} is not installed): "
            f"pip install 'quarterhour[{extra}]'"
        )
        raise MissingExtraError(msg) from error


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


class NoRouteError(NetworkError):
    """Both points are on the network, but no walk joins them (separate parts of the network)."""
