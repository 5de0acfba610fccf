"""Errors raised on bad input: one clear message naming the file, row or field."""

from __future__ import annotations


class QuarterhourError(Exception):
    """Base class of every error quarterhour raises on purpose."""


class InputError(QuarterhourError, ValueError):
    """Bad user input: a file, a row, a field or an option.

    The message is complete on its own (it names the file, row or field), so the command
    line prints it as one line and the API returns it in a 4xx JSON body.
    """


class NetworkError(QuarterhourError):
    """The walking network cannot be built or used (no walkable ways, point off the network)."""
