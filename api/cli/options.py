"""Option groups and helpers every command shares: network, walk limit, points, outputs.

Command modules (:mod:`~quarterhour.api.cli.routing`, :mod:`~quarterhour.api.cli.siting`,
:mod:`~quarterhour.api.cli.serve`, :mod:`~quarterhour.api.cli.report`) import from here, and
:mod:`~quarterhour.api.cli.main` imports them: nothing imports back up.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from quarterhour import settings
from quarterhour.geo.crs import CRS_NAMES
from quarterhour.geo.errors import InputError

if TYPE_CHECKING:
    import shapely

    from quarterhour.geo.limits import ReaderLimits
    from quarterhour.routing.graph import WalkNetwork

log = logging.getLogger("quarterhour")

Handler = Callable[[argparse.Namespace], None]

EPILOG = (
    "Walking speed defaults to 4.5 km/h (75 m per minute); the 15-minute circle is about 1,125 m "
    "of walking. GB 50180-2018 describes it as 800-1,000 m: use --meters 1000 for distance mode. "
    "Outputs built from OpenStreetMap carry: " + settings.attribution
)


class PlannerHelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Show the defaults that exist and keep the description's line breaks."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default not in (None, False, argparse.SUPPRESS) and "%(default)" not in text:
            text += " (default: %(default)s)"
        return text


def add_command(
    commands: argparse._SubParsersAction,
    name: str,
    handler: Handler,
    summary: str,
) -> argparse.ArgumentParser:
    """Add a sub-command with the shared help format and ``-q``/``-v`` after its name.

    Parameters
    ----------
    commands
        The sub-parsers of the ``quarterhour`` parser.
    name
        The command's name.
    handler
        Called with the parsed arguments.
    summary
        One paragraph of help.
    """
    sub = commands.add_parser(
        name,
        help=summary,
        description=summary,
        epilog=EPILOG,
        formatter_class=PlannerHelpFormatter,
    )
    add_verbosity_options(sub, default=argparse.SUPPRESS)
    sub.set_defaults(handler=handler)
    parser: argparse.ArgumentParser = sub
    return parser


def add_verbosity_options(parser: argparse.ArgumentParser, *, default: object = False) -> None:
    """Add ``-q/--quiet`` and ``-v/--verbose`` (before or after the sub-command)."""
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=default,
        help="no progress bars or log lines, only errors",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=default,
        help="more log lines",
    )


def positive_float(text: str) -> float:
    """Parse a number above zero (an ``argparse`` type)."""
    try:
        value = float(text)
    except ValueError:
        msg = f"{text!r} is not a number"
        raise argparse.ArgumentTypeError(msg) from None
    if not value > 0:
        msg = f"{text!r} must be above zero"
        raise argparse.ArgumentTypeError(msg)
    return value


def positive_int(text: str) -> int:
    """Parse a whole number above zero (an ``argparse`` type)."""
    if not text.isdigit() or int(text) < 1:
        msg = f"{text!r} is not a whole number above zero"
        raise argparse.ArgumentTypeError(msg)
    return int(text)


READER_BOUNDS: dict[str, str] = {
    "max_file_mb": "largest point file, MB on disk",
    "max_rows": "most rows of a point file",
    "max_columns": "most columns of a point file",
    "max_cells": "most cells of a sheet's used area (last row times last column)",
    "max_cell_chars": "longest text of one cell",
    "max_line_chars": "longest CSV line, bytes",
    "max_part_mb": "largest part of an .xlsx once decompressed, MB",
}
"""The point readers' bounds (fields of ``ReaderLimits`` and settings) and their help."""


def add_reader_options(parser: argparse.ArgumentParser) -> None:
    """Add the point readers' bounds, ``--max-rows`` ... (defaults from settings)."""
    group = parser.add_argument_group(
        "file bounds (far above any planner's list; a file past one stops with the option to "
        "raise it)"
    )
    for name, text in READER_BOUNDS.items():
        default = getattr(settings, name)
        group.add_argument(
            f"--{name.replace('_', '-')}",
            dest=name,
            type=positive_float if name.endswith("_mb") else positive_int,
            default=None,
            metavar="N",
            help=f"{text} (default: {default:,g})",
        )


def reader_limits_from_args(args: argparse.Namespace) -> ReaderLimits:
    """The readers' bounds the options name (unset ones: settings at read time)."""
    from quarterhour.geo.limits import ReaderLimits

    return ReaderLimits(**{name: getattr(args, name, None) for name in READER_BOUNDS})


def add_network_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--osm``, ``--place``, ``--boundary``, ``--boundary-crs`` and ``--no-cache``."""
    group = parser.add_argument_group("walking network")
    group.add_argument(
        "--osm",
        type=Path,
        default=None,
        metavar="FILE",
        help="OpenStreetMap extract (.osm, .osm.xml, .osm.bz2, .osm.pbf); "
        "default: the bundled central Shanghai streets",
    )
    group.add_argument(
        "--place",
        metavar="NAME",
        help="download the walking network of a place with osmnx instead of --osm (needs a "
        'network connection), e.g. "Qingpu District, Shanghai, China"',
    )
    group.add_argument(
        "--boundary",
        type=Path,
        metavar="FILE",
        help="clip the network to this GeoJSON polygon",
    )
    group.add_argument(
        "--boundary-crs",
        default=None,
        choices=CRS_NAMES,
        help="coordinates of --boundary (DataV and AMap outlines are gcj02); default: what the "
        "file declares, else wgs84 outside China (RFC 7946); in China it must be given",
    )
    group.add_argument(
        "--no-cache",
        action="store_true",
        help="rebuild the network instead of reusing the cache",
    )
    group.add_argument(
        "--max-osm-xml-mb",
        type=positive_float,
        default=None,
        metavar="MB",
        help=f"most OSM XML read, decompressed (default: {settings.max_osm_xml_mb:,g})",
    )
    group.add_argument(
        "--max-boundary-mb",
        type=positive_float,
        default=None,
        metavar="MB",
        help=f"largest --boundary file (default: {settings.max_boundary_mb:,g})",
    )


def add_limit_options(parser: argparse.ArgumentParser, *, many: bool = False) -> None:
    """Add ``--minutes`` (several with ``many``), ``--meters`` and ``--speed-kmh``."""
    group = parser.add_argument_group("walk limit")
    if many:
        group.add_argument(
            "--minutes",
            type=positive_float,
            nargs="+",
            metavar="MIN",
            help="contours in minutes (at most 4, each at most 60; default: "
            f"{' '.join(f'{value:g}' for value in settings.isochrone_contours)})",
        )
        group.add_argument(
            "--meters",
            type=positive_float,
            nargs="+",
            metavar="M",
            help="distance contours in metres walked, instead of minutes",
        )
    else:
        group.add_argument(
            "--minutes",
            type=positive_float,
            default=None,
            metavar="MIN",
            help=f"walk limit in minutes (default: {settings.walk_limit_minutes:g})",
        )
        group.add_argument(
            "--meters",
            type=positive_float,
            metavar="M",
            help="distance limit in metres walked, instead of minutes",
        )
    group.add_argument(
        "--speed-kmh",
        type=positive_float,
        default=settings.walk_speed_kmh,
        help="walking speed",
    )


def limit_from_args(args: argparse.Namespace) -> tuple[Any, Any]:
    """``(minutes, meters)`` of the walk-limit options: one of them, never both."""
    if args.meters is not None and args.minutes is not None:
        msg = "give a walk limit in --minutes or a distance in --meters, not both"
        raise InputError(msg)
    return args.minutes, args.meters


def stated_crs(crs: str | None, lon: float, lat: float) -> str:
    """The coordinate system given for a point, which a point in China must state."""
    from quarterhour.geo.crs import out_of_china
    from quarterhour.geo.points import CRS_CHOICES

    if crs is not None:
        return crs
    if not out_of_china(lon, lat):
        msg = (
            f"the point ({lon}, {lat}) lies in China: state its coordinate system with "
            f"{CRS_CHOICES}"
        )
        raise InputError(msg, param="crs")
    return "wgs84"


def boundary_from_args(args: argparse.Namespace) -> shapely.Geometry | None:
    """The planning area ``--boundary`` names (WGS84), or None.

    ``args.boundary_crs`` is set to the system the file was read in (for the plan's record).
    """
    from quarterhour.geo.boundary import read_boundary_crs

    if not args.boundary:
        return None
    apply_file_bounds(args)
    outline, args.boundary_crs = read_boundary_crs(
        args.boundary, crs=args.boundary_crs, crs_param="boundary_crs"
    )
    return outline


FILE_BOUND_SETTINGS = ("max_osm_xml_mb", "max_boundary_mb")
"""The network files' bounds a command's options may set (for that command only)."""


def apply_file_bounds(args: argparse.Namespace) -> None:
    """Set the network files' bounds the options give (settings are read at call time)."""
    for name in FILE_BOUND_SETTINGS:
        value = getattr(args, name, None)
        if value is not None:
            setattr(settings, name, value)


def network_from_args(
    args: argparse.Namespace, *, boundary: shapely.Geometry | None = None
) -> WalkNetwork:
    """Load (or download) the walking network the network options of a command name.

    Parameters
    ----------
    args
        The parsed options.
    boundary
        The planning area already read (default: read ``--boundary`` here).
    """
    from quarterhour.routing.network import download_network, load_network

    apply_file_bounds(args)
    if boundary is None:
        boundary = boundary_from_args(args)
    if args.place:
        if args.osm is not None:
            msg = "give either --osm or --place, not both"
            raise InputError(msg)
        return download_network(args.place, boundary=boundary)
    osm = args.osm if args.osm is not None else settings.default_osm_path()
    network = load_network(osm, boundary=boundary, use_cache=not args.no_cache, quiet=args.quiet)
    log.info("%s", network.describe())
    return network


def write_metadata(output: Path, network: WalkNetwork, **facts: object) -> Path:
    """Write ``<output stem>.meta.json`` beside a CSV output: speed, limit, sources, attribution.

    A CSV has no place for them, and every output built from OpenStreetMap states its walking
    speed and carries the attribution.

    Parameters
    ----------
    output
        The CSV file.
    network
        The network the output was computed on.
    **facts
        What else to state (limit, speed, input files ...).
    """
    from quarterhour.geo.atomic import write_text

    path = output.with_name(output.stem + ".meta.json")
    meta = {**facts, "network": network.source, "attribution": network.attribution}
    write_text(path, json.dumps(meta, ensure_ascii=False, indent=1, default=str))
    return path
