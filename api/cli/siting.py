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
    network_from_args,
    write_metadata,
)
from quarterhour.geo.crs import CRS_NAMES
from quarterhour.geo.errors import InputError

if TYPE_CHECKING:
    import argparse

log = logging.getLogger("quarterhour")


def _add_point_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("points (CSV id,name,lon,lat[,weight]; GeoJSON; GeoPackage)")
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
        help="coordinates of the point files (AMap/Tencent lists are gcj02, Baidu bd09); "
        "default wgs84, or gcj02 for the bundled compounds",
    )


def _load_points(path: Path | None, *, crs: str | None, role: str):  # noqa: ANN202
    from quarterhour.geo.points import read_points

    if path is None:
        return None
    return read_points(path, crs=crs or "wgs84", role=role)


def _communities(args: argparse.Namespace, network):  # noqa: ANN001, ANN202
    from quarterhour.siting.bundled import default_communities

    if args.communities is None:
        if args.crs not in (None, "gcj02"):
            msg = "--crs applies to your own point files; the bundled compounds are GCJ-02"
            raise InputError(msg)
        return default_communities(network)
    return _load_points(args.communities, crs=args.crs, role="communities")


def cmd_plan(args: argparse.Namespace) -> None:
    """Propose new stations; write stations.geojson, assignments.csv and summary.json."""
    from quarterhour.siting.files import BUNDLED_PREFIX, Provenance, write_plan
    from quarterhour.siting.plan import run_plan

    existing = _load_points(args.existing, crs=args.crs, role="existing stations")
    candidates = _load_points(args.candidates, crs=args.crs, role="candidate sites")
    network = network_from_args(args)
    communities = _communities(args, network)
    result = run_plan(
        network,
        communities,
        existing=existing,
        candidates=candidates,
        minutes=args.minutes,
        speed_kmh=args.speed_kmh,
        meters=args.meters,
        budget=args.budget,
        exact=args.exact,
        time_limit=args.time_limit,
        lp_bound=args.lp_bound,
        effort=args.effort,
        quiet=args.quiet,
    ).result
    provenance = Provenance(
        osm=str(args.osm or settings.default_osm_path()),
        communities=str(args.communities or BUNDLED_PREFIX + settings.default_communities),
        crs=args.crs or ("gcj02" if args.communities is None else "wgs84"),
        existing=str(args.existing) if args.existing else None,
        candidates=str(args.candidates) if args.candidates else None,
        boundary=str(args.boundary) if args.boundary else None,
        boundary_crs=args.boundary_crs,
    )
    paths = write_plan(result, args.output, provenance=provenance)
    summary = result.summary
    bound = summary["lower_bound"] if summary["lower_bound"] is not None else summary["upper_bound"]
    log.info(
        "%s communities, %s covered by %s existing + %s new stations (%s bound %.2f, gap at most "
        "%.1f%%: the bound-based gap is an upper limit on the true gap); wrote %s",
        f"{summary['n_communities']:,}",
        f"{summary['covered']:,}",
        summary["n_existing"],
        summary["n_new"],
        "lower" if summary["lower_bound"] is not None else "upper",
        bound,
        100 * (summary["gap"] or 0.0),
        ", ".join(str(p) for p in paths.values()),
    )
    print(
        json.dumps(
            {
                key: summary[key]
                for key in ("n_existing", "n_new", "covered", "uncoverable", "lower_bound", "gap")
            }
        )
    )


def cmd_coverage(args: argparse.Namespace) -> None:
    """Audit today's coverage: each community's nearest station and walk time, as CSV."""
    from quarterhour.geo.atomic import atomic_path
    from quarterhour.siting.audit import coverage_audit

    stations = _load_points(args.stations, crs=args.crs, role="stations")
    network = network_from_args(args)
    communities = _communities(args, network)
    audit = coverage_audit(
        network,
        communities,
        stations,
        minutes=args.minutes,
        speed_kmh=args.speed_kmh,
        meters=args.meters,
    )
    with atomic_path(args.output) as temporary:
        audit.communities.to_csv(temporary, index=False, float_format="%.3f")
    summary = audit.summary
    write_metadata(args.output, network, **summary, stations=str(args.stations), crs=args.crs)
    log.info(
        "coverage: %s; wrote %s", json.dumps(summary, ensure_ascii=False, default=str), args.output
    )
    print(json.dumps(summary, ensure_ascii=False, default=str))


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
    plan.add_argument(
        "--candidates",
        type=Path,
        metavar="K.csv",
        help="candidate sites (default: the communities themselves)",
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
        help="seconds the whole solve may take: search, --lp-bound and --exact "
        "(default: none beyond --effort's own; HiGHS 60 s in --exact)",
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
    plan.add_argument("-o", "--output", type=Path, default=Path("plan"), help="output folder")
    add_limit_options(plan)
    add_network_options(plan)

    coverage = add_command(
        commands,
        "coverage",
        cmd_coverage,
        "Who is covered today: every community's nearest station and walk time.",
    )
    _add_point_options(coverage)
    coverage.add_argument(
        "--stations", type=Path, required=True, metavar="S.csv", help="the stations"
    )
    coverage.add_argument("-o", "--output", type=Path, required=True, help="output CSV")
    add_limit_options(coverage)
    add_network_options(coverage)
