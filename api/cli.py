"""The ``quarterhour`` command line.

Every command reads an OpenStreetMap extract (``--osm``, default: the bundled central
Shanghai streets), builds or reloads its walking network, and writes one output file or folder
atomically. Bad input ends with one line ``quarterhour: error: ...`` and exit status 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from geo.crs import CRS_NAMES
from geo.errors import InputError, QuarterhourError
from routing import settings

if TYPE_CHECKING:
    from routing.network import WalkNetwork

log = logging.getLogger("quarterhour")

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


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        msg = f"{text!r} is not a number"
        raise argparse.ArgumentTypeError(msg) from None
    if not value > 0:
        msg = f"{text!r} must be above zero"
        raise argparse.ArgumentTypeError(msg)
    return value


def _add_network_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("walking network")
    group.add_argument(
        "--osm",
        type=Path,
        default=None,
        metavar="FILE",
        help="OpenStreetMap extract (.osm, .osm.xml, .osm.bz2, .osm.pbf); default: the bundled central Shanghai streets",
    )
    group.add_argument(
        "--place",
        metavar="NAME",
        help='download the walking network of a place with osmnx instead of --osm (needs a network connection), '
        'e.g. "Qingpu District, Shanghai, China"',
    )
    group.add_argument("--boundary", type=Path, metavar="FILE", help="clip the network to this GeoJSON polygon")
    group.add_argument(
        "--boundary-crs", default="wgs84", choices=CRS_NAMES, help="coordinates of --boundary"
    )
    group.add_argument("--no-cache", action="store_true", help="rebuild the network instead of reusing the cache")


def _add_limit_options(parser: argparse.ArgumentParser, *, many: bool = False) -> None:
    group = parser.add_argument_group("walk limit")
    if many:
        group.add_argument(
            "--minutes", type=_positive_float, nargs="+", default=list(settings.isochrone_contours),
            metavar="MIN", help="contours in minutes (at most 4, each at most 60)",
        )
        group.add_argument(
            "--meters", type=_positive_float, nargs="+", metavar="M", help="distance contours in metres walked, instead of minutes"
        )
    else:
        group.add_argument(
            "--minutes", type=_positive_float, default=settings.walk_limit_minutes, metavar="MIN", help="walk limit in minutes"
        )
        group.add_argument("--meters", type=_positive_float, metavar="M", help="distance limit in metres walked, instead of minutes")
    group.add_argument("--speed-kmh", type=_positive_float, default=settings.walk_speed_kmh, help="walking speed")


def network_from_args(args: argparse.Namespace) -> WalkNetwork:
    """Load (or download) the walking network the network options of a command name."""
    from geo.boundary import read_boundary
    from routing.network import download_network, load_network

    boundary = read_boundary(args.boundary, crs=args.boundary_crs) if args.boundary else None
    if args.place:
        if args.osm is not None:
            msg = "give either --osm or --place, not both"
            raise InputError(msg)
        return download_network(args.place, boundary=boundary)
    osm = args.osm if args.osm is not None else settings.data_folder / settings.default_osm
    network = load_network(osm, boundary=boundary, use_cache=not args.no_cache, quiet=args.quiet)
    log.info("%s", network.describe())
    return network


def cmd_network(args: argparse.Namespace) -> None:
    """Build (and cache) the walking network and print its size."""
    network = network_from_args(args)
    print(network.describe())


def cmd_isochrone(args: argparse.Namespace) -> None:
    """Write the isochrone polygons of one point as GeoJSON."""
    import orjson

    from geo.atomic import write_bytes
    from geo.crs import check_crs_name, convert
    from routing.isochrone import isochrone, to_geojson

    network = network_from_args(args)
    lon, lat = convert(args.lon, args.lat, src=check_crs_name(args.crs), dst="wgs84")
    result = isochrone(
        network, float(lon), float(lat), minutes=args.minutes, meters=args.meters,
        speed_kmh=args.speed_kmh, buffer_m=args.buffer_m,
    )
    collection = to_geojson(result, network, crs=args.out_crs or args.crs, denoise=args.denoise, generalize_m=args.generalize)
    write_bytes(args.output, orjson.dumps(collection))
    log.info("wrote %s contours to %s", len(collection["features"]), args.output)


def write_metadata(output: Path, network: WalkNetwork, **facts: object) -> Path:
    """Write ``<output stem>.meta.json`` beside a CSV output: speed, limit, sources, attribution.

    A CSV has no place for them, and every output built from OpenStreetMap states its walking
    speed and carries the attribution.
    """
    import json

    from geo.atomic import write_text

    path = output.with_name(output.stem + ".meta.json")
    meta = {**facts, "network": network.source, "attribution": network.attribution}
    write_text(path, json.dumps(meta, ensure_ascii=False, indent=1, default=str))
    return path


def cmd_walktimes(args: argparse.Namespace) -> None:
    """Write the walk times between two point files as CSV (from_id,to_id,walk_min)."""
    import numpy as np
    import pandas as pd

    from geo.atomic import atomic_path
    from geo.points import read_points
    from routing.walktimes import walk_time_matrix

    sources = read_points(args.from_file, crs=args.crs, role="origin")
    targets = read_points(args.to_file, crs=args.crs, role="destination")
    network = network_from_args(args)
    times = walk_time_matrix(
        network, sources.lon, sources.lat, targets.lon, targets.lat,
        minutes=args.minutes, meters=args.meters, speed_kmh=args.speed_kmh, quiet=args.quiet,
    )
    matrix = times.matrix.tocoo()
    column = "walk_min" if times.metric == "time" else "walk_m"
    table = pd.DataFrame(
        {"from_id": sources.ids[matrix.row], "to_id": targets.ids[matrix.col], column: np.round(matrix.data, 4)}
    )
    with atomic_path(args.output) as temporary:
        table.to_csv(temporary, index=False)
    write_metadata(
        args.output, network, metric=times.metric, limit=times.limit, unit=times.unit, speed_kmh=times.speed_kmh,
        sources=str(args.from_file), targets=str(args.to_file), crs=args.crs,
        unreachable_from=sources.ids[~times.src_snap.reachable].tolist(),
        unreachable_to=targets.ids[~times.dst_snap.reachable].tolist(),
    )
    for role, points, snap in (("from", sources, times.src_snap), ("to", targets, times.dst_snap)):
        if snap.n_unreachable:
            log.warning(
                "%s of %s %s points lie more than %g m from any walkable street and have no walk times (%s)",
                f"{snap.n_unreachable:,}", f"{len(points):,}", role, snap.max_m,
                ", ".join(points.ids[~snap.reachable][:5]) + (" ..." if snap.n_unreachable > 5 else ""),
            )
    log.info("wrote %s pairs within %g %s to %s", f"{len(table):,}", times.limit, times.unit, args.output)


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
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars or log lines, only errors")
    parser.add_argument("-v", "--verbose", action="store_true", help="more log lines")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, handler: Callable[[argparse.Namespace], None], summary: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name, help=summary, description=summary, epilog=EPILOG, formatter_class=PlannerHelpFormatter
        )
        sub.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help="no progress bars or log lines")
        sub.set_defaults(handler=handler)
        return sub

    network = add("network", cmd_network, "Build the walking network of an OSM extract (cached for later commands).")
    _add_network_options(network)

    iso = add("isochrone", cmd_isochrone, "Draw the 5/10/15-minute walking areas around one point, as GeoJSON.")
    iso.add_argument("--lon", type=float, required=True, help="longitude of the point")
    iso.add_argument("--lat", type=float, required=True, help="latitude of the point")
    iso.add_argument("--crs", default="wgs84", choices=CRS_NAMES, help="coordinates of --lon/--lat (AMap lists are gcj02)")
    iso.add_argument("--out-crs", choices=CRS_NAMES, help="coordinates of the output (default: as --crs)")
    iso.add_argument("--buffer-m", type=float, default=settings.isochrone_buffer_m, help="how far off a reached street the area reaches")
    iso.add_argument("--denoise", type=float, default=0.0, help="0-1: drop pieces smaller than this share of the largest")
    iso.add_argument("--generalize", type=float, default=None, metavar="M", help="simplify outlines to this many metres")
    iso.add_argument("-o", "--output", type=Path, required=True, help="output .geojson file")
    _add_limit_options(iso, many=True)
    _add_network_options(iso)

    walk = add("walktimes", cmd_walktimes, "Walk times between two point files, within a limit, as CSV.")
    walk.add_argument("--from", dest="from_file", type=Path, required=True, metavar="A.csv", help="origins (CSV id,name,lon,lat; GeoJSON; GeoPackage)")
    walk.add_argument("--to", dest="to_file", type=Path, required=True, metavar="B.csv", help="destinations")
    walk.add_argument("--crs", default="wgs84", choices=CRS_NAMES, help="coordinates of both point files")
    walk.add_argument("-o", "--output", type=Path, required=True, help="output CSV: from_id,to_id,walk_min")
    _add_limit_options(walk)
    _add_network_options(walk)

    _add_siting_commands(add)
    return parser


def _add_siting_commands(add: Callable[..., argparse.ArgumentParser]) -> None:
    from api import cli_report, cli_serve, cli_siting

    cli_siting.add_commands(add, _add_network_options, _add_limit_options)
    cli_serve.add_serve_command(add, _add_network_options)
    cli_report.add_report_command(add)


def configure_logging(*, quiet: bool, verbose: bool) -> None:
    """Log lines to stderr as ``quarterhour: ...``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("quarterhour: %(message)s"))
    log.handlers[:] = [handler]
    log.propagate = False
    log.setLevel(logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return 0
    configure_logging(quiet=args.quiet, verbose=args.verbose)
    try:
        args.handler(args)
    except QuarterhourError as error:
        print(f"quarterhour: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"quarterhour: error: {error.filename or ''}: {error.strerror or error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("quarterhour: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
