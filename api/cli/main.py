"""The ``quarterhour`` command line (also ``python -m quarterhour``).

Every command reads an OpenStreetMap extract (``--osm``, default: the bundled central
Shanghai streets), builds or reloads its walking network, and writes one output file or folder
atomically. Bad input ends with one line ``quarterhour: error: ...`` and exit status 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import TYPE_CHECKING

from quarterhour import settings
from quarterhour.api.cli import report, routing, serve, siting, users
from quarterhour.api.cli.options import (
    EPILOG,
    FILE_BOUND_SETTINGS,
    PlannerHelpFormatter,
    add_verbosity_options,
)
from quarterhour.geo.errors import QuarterhourError

if TYPE_CHECKING:
    from collections.abc import Sequence

log = logging.getLogger("quarterhour")


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``quarterhour`` command."""
    parser = argparse.ArgumentParser(
        prog="quarterhour",
        description=(
            "Plan community employment service stations so that every resident can walk to one "
            "within 15 minutes (Shanghai's 15-minute employment service circle)."
        ),
        epilog=EPILOG,
        formatter_class=PlannerHelpFormatter,
    )
    add_verbosity_options(parser)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    routing.add_commands(commands)
    siting.add_commands(commands)
    serve.add_commands(commands)
    report.add_commands(commands)
    users.add_commands(commands)
    return parser


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a line is logged (tests replace it)."""

    @property
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


def configure_logging(*, quiet: bool, verbose: bool) -> None:
    """Log lines to stderr as ``quarterhour: ...``."""
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("quarterhour: %(message)s"))
    log.handlers[:] = [handler]
    log.propagate = False
    log.setLevel(logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO)


def error_line(error: BaseException) -> str:
    """The one line a failed command prints: CLI flags for library parameters, paths named."""
    if isinstance(error, QuarterhourError):
        return f"quarterhour: error: {error.for_command_line()}"
    if isinstance(error, OSError):
        where = f"{error.filename}: " if error.filename else ""
        return f"quarterhour: error: {where}{error.strerror or error}"
    return f"quarterhour: error: {error}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return 0
    configure_logging(quiet=args.quiet, verbose=args.verbose)
    bounds = {name: getattr(settings, name) for name in FILE_BOUND_SETTINGS}
    try:
        args.handler(args)
    except (QuarterhourError, OSError) as error:
        print(error_line(error), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("quarterhour: interrupted", file=sys.stderr)
        return 130
    finally:  # --max-osm-xml-mb and --max-boundary-mb hold for this command only
        for name, value in bounds.items():
            setattr(settings, name, value)
    return 0


if __name__ == "__main__":
    sys.exit(main())
