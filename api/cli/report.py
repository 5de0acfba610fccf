"""``quarterhour report``: the plan report as PDF (and self-contained HTML beside it)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from quarterhour.api.cli.options import add_command
from quarterhour.geo.crs import CRS_NAMES

if TYPE_CHECKING:
    import argparse

log = logging.getLogger("quarterhour")


def cmd_report(args: argparse.Namespace) -> None:
    """Write the report of a plan folder as PDF, and as self-contained HTML beside it."""
    from quarterhour.api.report import build_report

    paths = build_report(
        args.plan_dir,
        args.output,
        boundary=args.boundary,
        boundary_crs=args.boundary_crs,
        towns=args.town_outlines,
        towns_crs=args.town_outlines_crs,
        lang=args.lang,
        scenarios=not args.no_scenarios,
        quiet=args.quiet,
    )
    print(paths.pdf)
    print(paths.html)


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``report`` to the command line."""
    report = add_command(
        commands,
        "report",
        cmd_report,
        "Write a plan's report for the bureau: summary, overview map, proposed stations, per-town "
        "table, uncoverable communities, scenarios (3.6/4.5/5.1 km/h, 10/15/20 min), method and "
        "sources. PDF, with the same report as self-contained HTML beside it. Chinese by default.",
    )
    report.add_argument(
        "plan_dir",
        type=Path,
        metavar="PLAN_DIR",
        help="a folder written by `quarterhour plan -o PLAN_DIR`",
    )
    report.add_argument(
        "-o",
        "--output",
        type=Path,
        default=Path("report.pdf"),
        help="output PDF (report.html goes beside it)",
    )
    report.add_argument("--lang", choices=("zh", "en"), default="zh", help="language of the report")
    report.add_argument(
        "--boundary", type=Path, metavar="FILE", help="GeoJSON outline of the planning area to draw"
    )
    report.add_argument(
        "--boundary-crs",
        default=None,
        choices=CRS_NAMES,
        help="coordinates of --boundary (default: what the file declares; in China it must be "
        "given)",
    )
    report.add_argument(
        "--town-outlines",
        type=Path,
        metavar="FILE",
        help="GeoJSON of named town/street outlines to draw over the district outlines",
    )
    report.add_argument(
        "--town-outlines-crs", choices=CRS_NAMES, help="coordinates of --town-outlines (required)"
    )
    report.add_argument(
        "--no-scenarios",
        action="store_true",
        help="skip the scenario comparison (saves a few seconds per scenario)",
    )
