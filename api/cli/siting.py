"""``quarterhour plan`` and ``quarterhour coverage``: siting from the command line."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from quarterhour import settings
from quarterhour.api.cli.options import (
    add_command,
    add_limit_options,
    add_network_options,
    boundary_from_args,
    limit_from_args,
    network_from_args,
    write_metadata,
)
from quarterhour.geo.crs import CRS_NAMES
from quarterhour.geo.errors import InputError

if TYPE_CHECKING:
    import argparse

    from quarterhour.geo.points import PointSet
    from quarterhour.routing.graph import WalkNetwork

log = logging.getLogger("quarterhour")

COLUMN_OPTIONS: tuple[str, ...] = ("id", "name", "weight", "town")
"""Fields whose column of the communities' file an option may name (``--weight-col``)."""


def _add_point_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "points (CSV, Excel .xlsx, GeoJSON or GeoPackage; headers such as 序号, 社区名称, 地址, "
        "经度, 纬度, 常住人口, 街镇 or id, name, lon, lat, weight, town are recognised)"
    )
    group.add_argument(
        "--communities",
        type=Path,
        metavar="C.csv",
        help="communities (demand points); weight = residents or e.g. registered unemployed; "
        "default: the bundled central Shanghai compounds inside the network's area",
    )
    group.add_argument(
        "--crs",
        choices=CRS_NAMES,
        default=None,
        help="coordinates of every point file: gcj02 (AMap, Tencent), bd09 (Baidu) or wgs84 "
        "(GPS, OpenStreetMap); needed for tables of points in China, never guessed "
        "(GeoJSON is WGS84 unless it says otherwise)",
    )
    group.add_argument("--sheet", metavar="NAME", help="the sheet of Excel files (default: first)")
    for field_name in COLUMN_OPTIONS:
        group.add_argument(
            f"--{field_name}-col",
            metavar="COLUMN",
            help=f"the communities' column that holds the {field_name} (default: guessed from "
            "the headers)",
        )


def _load_points(
    path: Path | None,
    *,
    crs: str | None,
    role: str,
    sheet: str | None,
    columns: dict[str, str] | None = None,
) -> PointSet | None:
    from quarterhour.geo.points import read_points

    if path is None:
        return None
    return read_points(path, crs=crs, role=role, sheet=sheet, columns=columns)


def _communities(
    args: argparse.Namespace, network: WalkNetwork
) -> tuple[PointSet, dict[str, int] | None]:
    """The communities to plan, and, for the bundled list, how many lie in the network's area."""
    from quarterhour.geo.points import read_points
    from quarterhour.siting.bundled import bundled_selection

    if args.communities is None:
        if args.crs not in (None, settings.default_communities_crs):
            msg = "--crs applies to your own point files; the bundled compounds are GCJ-02"
            raise InputError(msg)
        selection = bundled_selection(network)
        return selection.points, selection.counts
    columns = {
        field_name: getattr(args, f"{field_name}_col")
        for field_name in COLUMN_OPTIONS
        if getattr(args, f"{field_name}_col")
    }
    points = read_points(
        args.communities, crs=args.crs, role="communities", sheet=args.sheet, columns=columns
    )
    return points, None


def _communities_crs(args: argparse.Namespace) -> str:
    if args.communities is None:
        return settings.default_communities_crs
    return args.crs or "wgs84"


def cmd_plan(args: argparse.Namespace) -> None:
    """Propose new stations; write the plan folder (stations, assignments, workbook, summary)."""
    from quarterhour.geo.atomic import check_output_folder
    from quarterhour.siting.files import BUNDLED_PREFIX, PLAN_FILES, Provenance, write_plan
    from quarterhour.siting.plan import run_plan

    check_output_folder(args.output, replaceable=PLAN_FILES)
    minutes, meters = limit_from_args(args)
    existing_crs = args.existing_crs or args.crs
    candidates_crs = args.candidates_crs or args.crs
    existing = _load_points(
        args.existing, crs=existing_crs, role="existing stations", sheet=args.sheet
    )
    candidates = _load_points(
        args.candidates, crs=candidates_crs, role="candidate sites", sheet=args.sheet
    )
    boundary = boundary_from_args(args)
    network = network_from_args(args, boundary=boundary)
    communities, selection = _communities(args, network)
    result = run_plan(
        network,
        communities,
        existing=existing,
        candidates=candidates,
        minutes=minutes,
        speed_kmh=args.speed_kmh,
        meters=meters,
        boundary=boundary,
        budget=args.budget,
        exact=args.exact,
        time_limit=args.time_limit,
        lp_bound=args.lp_bound,
        effort=args.effort,
        quiet=args.quiet,
    )._solved()
    provenance = Provenance(
        osm=str(args.osm or args.place or settings.default_osm_path()),
        communities=str(args.communities or BUNDLED_PREFIX + settings.default_communities),
        crs=_communities_crs(args),
        existing=str(args.existing) if args.existing else None,
        existing_crs=existing.crs if existing is not None else None,
        candidates=str(args.candidates) if args.candidates else None,
        candidates_crs=candidates.crs if candidates is not None else None,
        boundary=str(args.boundary) if args.boundary else None,
        boundary_crs=args.boundary_crs,
        sheet=args.sheet,
        columns=communities.columns if args.communities is not None else None,
        selection=selection,
    )
    for warning in result.warnings:
        log.warning("%s", warning)
    paths = write_plan(
        result, args.output, provenance=provenance, out_crs=args.out_crs, quiet=args.quiet
    )
    summary = result.summary
    if summary["objective"] == "min_cover":
        bound = f"at least {summary['lower_bound']:.2f} new stations needed"
    else:
        bound = f"at most {summary['upper_bound']:,.1f} weight coverable"
    log.info(
        "%s communities read (%s), %s covered by %s existing + %s new stations (%s; gap at most "
        "%.1f%%: the bound-based gap is an upper limit on the true gap); wrote %s",
        f"{summary['communities_read']:,}",
        ", ".join(f"{key} {value:,}" for key, value in summary["status_counts"].items() if value),
        f"{summary['covered']:,}",
        summary["n_existing"],
        summary["n_new"],
        bound,
        100 * (summary["gap"] or 0.0),
        ", ".join(str(path) for path in paths.values()),
    )
    keys = ("n_existing", "n_new", "covered", "uncoverable", "lower_bound", "gap")
    print(json.dumps({key: summary[key] for key in keys}))


def cmd_coverage(args: argparse.Namespace) -> None:
    """Audit today's coverage: every community's nearest station and walk time, as CSV."""
    from quarterhour.geo.atomic import check_output_file
    from quarterhour.geo.points import read_points
    from quarterhour.geo.spreadsheets import write_csv
    from quarterhour.siting.plan import coverage_audit

    check_output_file(args.output)
    minutes, meters = limit_from_args(args)
    stations = read_points(
        args.stations, crs=args.stations_crs or args.crs, role="stations", sheet=args.sheet
    )
    boundary = boundary_from_args(args)
    network = network_from_args(args, boundary=boundary)
    communities, selection = _communities(args, network)
    audit = coverage_audit(
        network,
        communities,
        stations,
        minutes=minutes,
        speed_kmh=args.speed_kmh,
        meters=meters,
        boundary=boundary,
        quiet=args.quiet,
    )
    for warning in audit.summary["warnings"]:
        log.warning("%s", warning)
    stations_path = args.output.with_name(args.output.stem + ".stations.csv")
    write_csv(audit.communities, args.output)
    write_csv(audit.stations, stations_path)
    summary = audit.summary
    write_metadata(
        args.output,
        network,
        **summary,
        communities=str(args.communities or settings.default_communities),
        stations=str(args.stations),
        stations_table=stations_path.name,
        crs=_communities_crs(args),
        selection=selection,
    )
    log.info(
        "coverage: %s of %s communities covered by %s stations; wrote %s and %s",
        f"{summary['covered']:,}",
        f"{summary['n_communities']:,}",
        f"{summary['n_stations']:,}",
        args.output,
        stations_path,
    )
    keys = ("communities_read", "n_communities", "n_stations", "covered", "uncovered")
    print(json.dumps({key: summary[key] for key in keys}, ensure_ascii=False))


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``plan`` and ``coverage`` to the command line."""
    plan = add_command(
        commands,
        "plan",
        cmd_plan,
        "Propose the fewest new stations so every community walks to one within the limit "
        "(or, with --budget N, the N stations that cover the most residents). With no options it "
        "plans central Shanghai from the bundled data.",
    )
    _add_point_options(plan)
    plan.add_argument(
        "--existing", type=Path, metavar="S.csv", help="existing stations, kept as they are"
    )
    plan.add_argument("--existing-crs", choices=CRS_NAMES, help="coordinates of --existing")
    plan.add_argument(
        "--candidates",
        type=Path,
        metavar="K.csv",
        help="candidate sites (default: the communities themselves)",
    )
    plan.add_argument("--candidates-crs", choices=CRS_NAMES, help="coordinates of --candidates")
    plan.add_argument(
        "--budget",
        type=int,
        metavar="N",
        help="number of new stations to place (maximise covered weight)",
    )
    plan.add_argument(
        "--exact", action="store_true", help="solve the integer programme exactly with HiGHS"
    )
    plan.add_argument(
        "--time-limit",
        type=float,
        default=None,
        metavar="S",
        help="seconds the whole plan may take (walk times, search, --lp-bound and --exact; "
        "default: no limit beyond --effort's own, and 60 s for HiGHS in --exact)",
    )
    plan.add_argument(
        "--effort",
        default=None,
        metavar="E",
        help="search effort, 0 to 1 or fast/default/thorough (default 0.5: at most about 8 s)",
    )
    plan.add_argument(
        "--lp-bound",
        action="store_true",
        help="also compute the LP-relaxation lower bound with HiGHS",
    )
    plan.add_argument(
        "--out-crs",
        choices=CRS_NAMES,
        default="wgs84",
        help="coordinates of stations.geojson (gcj02 to draw on AMap; the CSV and Excel outputs "
        "keep each file's own coordinates)",
    )
    plan.add_argument("-o", "--output", type=Path, default=Path("plan"), help="output folder")
    add_limit_options(plan)
    add_network_options(plan)

    coverage = add_command(
        commands,
        "coverage",
        cmd_coverage,
        "Who is covered today: every community's nearest station and walk time (CSV, one row "
        "per input community), and every station with the communities it serves "
        "(<output>.stations.csv).",
    )
    _add_point_options(coverage)
    coverage.add_argument(
        "--stations", type=Path, required=True, metavar="S.csv", help="the stations"
    )
    coverage.add_argument("--stations-crs", choices=CRS_NAMES, help="coordinates of --stations")
    coverage.add_argument("-o", "--output", type=Path, required=True, help="output CSV")
    add_limit_options(coverage)
    add_network_options(coverage)
