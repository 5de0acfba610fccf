"""``quarterhour plan`` and ``quarterhour coverage``: siting from the command line."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, overload

from quarterhour import settings
from quarterhour.api.cli.options import (
    add_command,
    add_limit_options,
    add_network_options,
    add_reader_options,
    boundary_from_args,
    limit_from_args,
    network_from_args,
    positive_int,
    reader_limits_from_args,
    write_metadata,
)
from quarterhour.geo.crs import CRS_NAMES
from quarterhour.geo.errors import InputError

if TYPE_CHECKING:
    import argparse

    import shapely

    from quarterhour.geo.points import PointSet
    from quarterhour.routing.graph import WalkNetwork
    from quarterhour.siting.capacity import Capacity

log = logging.getLogger("quarterhour")

PLAN_STDOUT_KEYS: tuple[str, ...] = (
    "n_communities",
    "status_counts",
    "covered",
    "uncoverable",
    "n_existing",
    "n_new",
    "lower_bound",
    "upper_bound",
    "gap",
)
"""What ``plan`` prints on stdout, from summary.json (``uncoverable`` = status_counts'
``uncoverable`` + ``off_network``, as summary.json's ``count_definitions`` say)."""

COLUMN_OPTIONS: tuple[str, ...] = ("id", "name", "weight", "town", "lon", "lat", "lonlat")
"""Fields whose column of the communities' file an option may name (``--weight-col``)."""


def _add_boundary_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stations-inside-boundary",
        action="store_true",
        help="only existing stations inside --boundary serve its communities (default: a "
        "station just outside, within the walk limit, serves them too; summary.json says which)",
    )


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
    group.add_argument(
        "--communities-crs",
        choices=CRS_NAMES,
        help="coordinates of --communities (default: --crs), as serve names it",
    )
    group.add_argument(
        "--sheet",
        metavar="NAME",
        help="the communities' sheet of an Excel file (default: the first whose header has "
        "coordinates, e.g. 经度/纬度)",
    )
    group.add_argument(
        "--header-row",
        type=positive_int,
        metavar="N",
        help="the communities' header row as the sheet numbers it (default: found among the "
        "first 30 rows by its headers: titles and a header of two rows are recognised)",
    )
    group.add_argument(
        "--dedupe",
        action="store_true",
        help="drop a community that repeats an earlier row's name and coordinates (pasted "
        "twice under a new 序号); without it such rows are kept and named in the warnings",
    )
    for field_name in COLUMN_OPTIONS:
        what = "both coordinates (121.48,31.20)" if field_name == "lonlat" else field_name
        group.add_argument(
            f"--{field_name}-col",
            metavar="COLUMN",
            help=f"the communities' column that holds the {what} (default: guessed from "
            "the headers)",
        )


def _add_capacity_options(parser: argparse.ArgumentParser, *, new_stations: bool) -> None:
    group = parser.add_argument_group(
        "capacity and staffing (a station serves its aides x --residents-per-aide residents)"
    )
    group.add_argument(
        "--residents-per-aide",
        type=float,
        metavar="N",
        help="residents (or whatever the weight counts) one employment aide serves; turns "
        "capacity on (no default: it is policy)",
    )
    group.add_argument(
        "--aides-col",
        metavar="COLUMN",
        help="the stations' column of aides (default: 人员, 工作人员, 就业援助员, 服务人员, 人数, "
        "aides or staff; missing means 1)",
    )
    if new_stations:
        group.add_argument(
            "--aides", type=int, default=None, metavar="N", help="aides of a new station (1)"
        )
        group.add_argument(
            "--max-aides",
            type=int,
            default=None,
            metavar="N",
            help="most aides a new station may get (default --aides)",
        )


CAPACITY_OPTIONS = {"aides_new": "aides"}
"""``Capacity``'s parameters whose option is not their name (``--aides``, not ``--aides-new``)."""


def _capacity(args: argparse.Namespace) -> Capacity | None:
    """The capacity options as one ``Capacity``, or None when capacity is off."""
    from quarterhour.siting.capacity import Capacity

    sizes = [name for name in ("aides", "max_aides", "aides_col") if getattr(args, name, None)]
    if args.residents_per_aide is None:
        if sizes:
            options = ", ".join("--" + name.replace("_", "-") for name in sizes)
            msg = f"{options}: give --residents-per-aide N too (capacity is off without it)"
            raise InputError(msg)
        return None
    aides_new = 1 if getattr(args, "aides", None) is None else args.aides
    try:
        return Capacity(args.residents_per_aide, aides_new, getattr(args, "max_aides", None))
    except InputError as error:
        if error.param not in CAPACITY_OPTIONS:
            raise
        raise InputError(error.message, param=CAPACITY_OPTIONS[error.param]) from None


def _aides_columns(args: argparse.Namespace) -> dict[str, str] | None:
    return {"aides": args.aides_col} if args.aides_col else None


@overload
def _load_points(
    path: Path,
    *,
    args: argparse.Namespace,
    crs: str | None,
    role: str,
    sheet: str | None = ...,
    columns: dict[str, str] | None = ...,
    header_row: int | None = ...,
    dedupe: bool = ...,
) -> PointSet: ...
@overload
def _load_points(
    path: None,
    *,
    args: argparse.Namespace,
    crs: str | None,
    role: str,
    sheet: str | None = ...,
    columns: dict[str, str] | None = ...,
    header_row: int | None = ...,
    dedupe: bool = ...,
) -> None: ...
def _load_points(
    path: Path | None,
    *,
    args: argparse.Namespace,
    crs: str | None,
    role: str,
    sheet: str | None = None,
    columns: dict[str, str] | None = None,
    header_row: int | None = None,
    dedupe: bool = False,
) -> PointSet | None:
    from quarterhour.geo.points import read_points
    from quarterhour.geo.spreadsheets import text_warnings

    if path is None:
        return None
    points = read_points(
        path,
        crs=crs,
        role=role,
        sheet=sheet,
        columns=columns,
        header_row=header_row,
        dedupe=dedupe,
        allow_unlocated=role in ("existing stations", "stations"),
        limits=reader_limits_from_args(args),
    )
    # said before any work; the outputs write them safely and summary.json repeats it
    for warning in text_warnings(points.table, what=f"{path.name} ({role})"):
        log.warning("%s", warning)
    return points


def _network_area(
    args: argparse.Namespace, boundary: shapely.Geometry | None
) -> shapely.Geometry | None:
    """The streets a plan in ``boundary`` needs: those within reach of stations that serve it."""
    from quarterhour.siting.inputs import station_area
    from quarterhour.siting.tables import WalkLimit

    minutes, meters = limit_from_args(args)
    limit = WalkLimit.checked(minutes=minutes, meters=meters, speed_kmh=args.speed_kmh)
    return station_area(
        boundary, limit_m=limit.metres_walked, inside_only=args.stations_inside_boundary
    )


def _communities(
    args: argparse.Namespace, network: WalkNetwork
) -> tuple[PointSet, dict[str, int] | None]:
    """The communities to plan, and, for the bundled list, how many lie in the network's area."""
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
    points = _load_points(
        args.communities,
        args=args,
        crs=args.communities_crs or args.crs,
        role="communities",
        sheet=args.sheet,
        columns=columns,
        header_row=args.header_row,
        dedupe=args.dedupe,
    )
    return points, None


def _communities_crs(args: argparse.Namespace) -> str:
    if args.communities is None:
        return settings.default_communities_crs
    return args.communities_crs or args.crs or "wgs84"


def reading_warnings(*point_sets: PointSet | None) -> list[str]:
    """The readers' warnings (repeated rows, approximate and missing weights, encodings).

    Stations without coordinates are not among them: the plan warns of them with the other
    stations that cover nothing.
    """
    return [
        line
        for points in point_sets
        if points is not None and points.reading is not None
        for line in points.reading.warnings(unlocated=False)
    ]


def cmd_plan(args: argparse.Namespace) -> None:
    """Propose new stations; write the plan folder (stations, assignments, workbook, summary)."""
    from quarterhour.geo.atomic import check_output_folder
    from quarterhour.siting.files import (
        BUNDLED_PREFIX,
        PLAN_FILES,
        Provenance,
        point_readings,
        write_plan,
    )
    from quarterhour.siting.plan import run_plan

    check_output_folder(args.output, replaceable=PLAN_FILES)
    minutes, meters = limit_from_args(args)
    existing_crs = args.existing_crs or args.crs
    candidates_crs = args.candidates_crs or args.crs
    capacity = _capacity(args)
    existing = _load_points(
        args.existing,
        args=args,
        crs=existing_crs,
        role="existing stations",
        sheet=args.existing_sheet,
        columns=_aides_columns(args),
    )
    candidates = _load_points(
        args.candidates,
        args=args,
        crs=candidates_crs,
        role="candidate sites",
        sheet=args.candidates_sheet,
    )
    boundary = boundary_from_args(args)
    network = network_from_args(args, boundary=_network_area(args, boundary))
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
        stations_inside_boundary=args.stations_inside_boundary,
        budget=args.budget,
        exact=args.exact,
        time_limit=args.time_limit,
        lp_bound=args.lp_bound,
        effort=args.effort,
        capacity=capacity,
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
        existing_sheet=existing.reading.sheet
        if existing is not None and existing.reading
        else None,
        candidates_sheet=(
            candidates.reading.sheet if candidates is not None and candidates.reading else None
        ),
        header_row=args.header_row,
        dedupe=args.dedupe,
        columns=communities.columns if args.communities is not None else None,
        selection=selection,
        reading=point_readings(communities=communities, existing=existing, candidates=candidates),
    )
    for warning in result.warnings:
        log.warning("%s", warning)
    # The readers logged theirs already; summary.json lists them with the plan's.
    result.warnings.extend(reading_warnings(communities, existing, candidates))
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
    shown = {key: summary[key] for key in PLAN_STDOUT_KEYS}
    if summary.get("staffing"):
        shown["staffing"] = summary["staffing"]
    print(json.dumps(shown, ensure_ascii=False))


def cmd_coverage(args: argparse.Namespace) -> None:
    """Audit today's coverage: every community's nearest station and walk time, as CSV."""
    from quarterhour.geo.atomic import check_output_file
    from quarterhour.geo.spreadsheets import write_csv
    from quarterhour.siting.files import MEASURE_DECIMALS, point_readings
    from quarterhour.siting.plan import coverage_audit

    check_output_file(args.output)
    minutes, meters = limit_from_args(args)
    capacity = _capacity(args)
    stations = _load_points(
        args.stations,
        args=args,
        crs=args.stations_crs or args.crs,
        role="stations",
        sheet=args.stations_sheet,
        columns=_aides_columns(args),
    )
    boundary = boundary_from_args(args)
    network = network_from_args(args, boundary=_network_area(args, boundary))
    communities, selection = _communities(args, network)
    audit = coverage_audit(
        network,
        communities,
        stations,
        minutes=minutes,
        speed_kmh=args.speed_kmh,
        meters=meters,
        boundary=boundary,
        stations_inside_boundary=args.stations_inside_boundary,
        capacity=capacity,
        quiet=args.quiet,
    )
    for warning in audit.summary["warnings"]:
        log.warning("%s", warning)
    stations_path = args.output.with_name(args.output.stem + ".stations.csv")
    write_csv(audit.communities, args.output, decimals=MEASURE_DECIMALS)
    write_csv(audit.stations, stations_path, decimals=MEASURE_DECIMALS)
    summary = audit.summary
    facts = {
        **summary,
        "warnings": [*summary["warnings"], *reading_warnings(communities, stations)],
        "communities": str(args.communities or settings.default_communities),
        "stations": str(args.stations),
        "stations_table": stations_path.name,
        "crs": _communities_crs(args),
        "selection": selection,
        "reading": point_readings(communities=communities, stations=stations),
    }
    write_metadata(args.output, network, **facts)
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
        "--existing-sheet",
        metavar="NAME",
        help="the sheet of --existing (default: the first whose header has coordinates)",
    )
    plan.add_argument(
        "--candidates",
        type=Path,
        metavar="K.csv",
        help="candidate sites (default: the communities themselves)",
    )
    plan.add_argument("--candidates-crs", choices=CRS_NAMES, help="coordinates of --candidates")
    plan.add_argument(
        "--candidates-sheet",
        metavar="NAME",
        help="the sheet of --candidates (default: the first whose header has coordinates)",
    )
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
    _add_capacity_options(plan, new_stations=True)
    add_limit_options(plan)
    add_network_options(plan)
    _add_boundary_option(plan)
    add_reader_options(plan)

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
    coverage.add_argument(
        "--stations-sheet",
        metavar="NAME",
        help="the sheet of --stations (default: the first whose header has coordinates)",
    )
    coverage.add_argument("-o", "--output", type=Path, required=True, help="output CSV")
    _add_capacity_options(coverage, new_stations=False)
    add_limit_options(coverage)
    add_network_options(coverage)
    _add_boundary_option(coverage)
    add_reader_options(coverage)
