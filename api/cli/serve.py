"""``quarterhour serve``: the HTTP API and the planners' web map (the ``serve`` extra)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from quarterhour import settings
from quarterhour.api.cli.options import (
    add_command,
    add_network_options,
    network_from_args,
    positive_float,
)
from quarterhour.api.http.settings import ConnectionLimits
from quarterhour.geo.crs import CRS_NAMES
from quarterhour.geo.errors import import_extra

if TYPE_CHECKING:
    from collections.abc import Callable

    from quarterhour.api.http.state import AppState

log = logging.getLogger("quarterhour")

SERVE_SUMMARY = (
    "Serve the isochrone API and the planners' web map over HTTP (FastAPI, docs at /docs)."
)


def cmd_serve(args: argparse.Namespace) -> None:
    """Load the network and point files, then serve until interrupted."""
    import_extra("fastapi", "serve")
    import_extra("uvicorn", "serve")
    from quarterhour.api.http.app import build_app, warm_up
    from quarterhour.api.http.guards import bound_hosts
    from quarterhour.api.http.listening import check_port, claim_port
    from quarterhour.api.http.serving import serve_forever
    from quarterhour.api.http.settings import ApiLimits, ServerConfig
    from quarterhour.api.http.state import load_state
    from quarterhour.api.workspace.schemas import WorkspaceLimits

    # A port in use is one error line now, before the network loads, not after "serving".
    check_port(args.host, args.port)
    bundled = args.osm is None and getattr(args, "place", None) is None and args.communities is None
    communities_crs = args.communities_crs or args.crs
    config = ServerConfig(
        network_path=args.osm if args.osm is not None else settings.default_osm_path(),
        communities=settings.default_communities_path() if bundled else args.communities,
        communities_crs=settings.default_communities_crs if bundled else communities_crs,
        stations=args.stations,
        stations_crs=args.stations_crs or args.crs,
        boundary=args.boundary,
        boundary_crs=args.boundary_crs,
        use_cache=not args.no_cache,
        clip_communities=not args.all_communities,
        cors_origins=tuple(args.cors_origins),
        allowed_hosts=bound_hosts(args.host, args.allowed_hosts),
        limits=ApiLimits(
            max_heavy_requests=args.max_heavy,
            memory_budget_bytes=int(args.memory_budget_mb * 1024**2),
        ),
        connections=ConnectionLimits(
            request_timeout_s=args.request_timeout,
            max_connections=args.max_connections,
            max_header_bytes=args.max_header_kb * 1024,
            max_unfinished_bytes=args.max_unfinished_mb * 1024**2,
        ),
    )
    # Bad files fail here, as one error line, before the server starts.
    state = load_state(config, network=network_from_args(args))
    _warn_about_stations(state)
    tiles = {"url": args.tiles, "crs": args.tiles_crs} if args.tiles else None
    app = build_app(
        config,
        state=state,
        data_dir=args.data_dir,
        tiles=tiles,
        workspace_limits=WorkspaceLimits(max_rows=args.max_upload_rows),
    )
    # Before the workers fork: they share the loaded kernels and indexes, and none waits for them.
    warm_up(state)
    workers = args.workers or default_workers()
    # Claimed (and checked free again) before the line that says the service is up.
    sock = claim_port(args.host, args.port, workers=workers)
    print(
        f"quarterhour: serving {state.network.source} on http://{args.host}:{args.port}/ (docs: /docs)"
        f" with {workers} worker{'s' if workers > 1 else ''}",
        file=sys.stderr,
    )
    status = serve_forever(
        app,
        host=args.host,
        port=args.port,
        workers=workers,
        access_log=args.access_log,
        connections=config.connections,
        sock=sock,
    )
    if status:
        sys.exit(status)


def _warn_about_stations(state: AppState) -> None:
    """Warn at start-up of existing stations that cover nothing, as ``plan`` does."""
    from quarterhour.siting.points import station_warnings

    if state.stations is None or len(state.stations) == 0:
        return
    for warning in station_warnings(state.network, state.stations):
        log.warning("%s", warning)


def default_workers() -> int:
    """Worker processes by default: one per core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _whole_number(lowest: int, highest: int, what: str) -> Callable[[str], int]:
    """An argparse type: a whole number from ``lowest`` to ``highest``, else one error line."""

    def parse(text: str) -> int:
        if not text.isdigit() or not lowest <= int(text) <= highest:
            msg = f"{text!r} is not {what} ({lowest}-{highest})"
            raise argparse.ArgumentTypeError(msg)
        return int(text)

    return parse


_port = _whole_number(1, 65535, "a TCP port")
_connections = _whole_number(1, 1_000_000, "a number of connections")
_workers = _whole_number(1, 64, "a number of workers")


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``serve`` to the command line."""
    serve = add_command(commands, "serve", cmd_serve, SERVE_SUMMARY)
    data = serve.add_argument_group(
        "data (without --osm and --communities: the bundled central Shanghai compounds)"
    )
    data.add_argument(
        "--communities",
        type=Path,
        metavar="FILE",
        help="communities (CSV id,name,lon,lat[,weight]; GeoJSON; GeoPackage)",
    )
    data.add_argument(
        "--crs",
        choices=CRS_NAMES,
        help="coordinates of every point file, as for plan: gcj02 (AMap, Tencent), bd09 "
        "(Baidu) or wgs84; needed for tables of points in China, never guessed",
    )
    data.add_argument(
        "--communities-crs",
        choices=CRS_NAMES,
        help="coordinates of --communities (default: --crs; AMap lists are gcj02)",
    )
    data.add_argument(
        "--stations",
        "--existing",
        dest="stations",
        type=Path,
        metavar="FILE",
        help="existing stations, for /coverage and kept by /plan",
    )
    data.add_argument(
        "--stations-crs",
        "--existing-crs",
        dest="stations_crs",
        choices=CRS_NAMES,
        help="coordinates of --stations (default: --crs)",
    )
    data.add_argument(
        "--all-communities", action="store_true", help="keep communities outside the network's area"
    )
    workspace = serve.add_argument_group("planners' workspace")
    workspace.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="where projects and scenarios are kept (DIR/workspace.sqlite3; default "
        "$XDG_DATA_HOME/quarterhour, else ~/.local/share/quarterhour)",
    )
    workspace.add_argument(
        "--max-upload-rows",
        type=_whole_number(1, 10_000_000, "a number of rows"),
        default=50_000,
        metavar="N",
        help="rows one uploaded point file may hold; larger files get 413 and nothing is stored",
    )
    workspace.add_argument(
        "--tiles",
        metavar="URL",
        help="base map tiles for the workspace page ({z}/{x}/{y} URL); default: the network's "
        "streets",
    )
    workspace.add_argument(
        "--tiles-crs",
        choices=("wgs84", "gcj02"),
        default="wgs84",
        help="coordinates of --tiles (AMap and Tencent tiles are gcj02)",
    )
    http = serve.add_argument_group("HTTP")
    http.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (0.0.0.0 for every interface)"
    )
    http.add_argument("--port", type=_port, default=8000, help="TCP port")
    http.add_argument(
        "--cors-origin",
        dest="cors_origins",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="allow browser calls from this origin (repeat; '*' for any)",
    )
    http.add_argument(
        "--workers",
        type=_workers,
        default=None,
        help="processes serving requests, forked after the network is loaded and shared "
        "read-only (default: one per core)",
    )
    http.add_argument("--access-log", action="store_true", help="log every request")
    http.add_argument(
        "--allowed-host",
        dest="allowed_hosts",
        action="append",
        default=[],
        metavar="NAME",
        help="also answer requests for this host name (repeat; '*' for any): by default only "
        "the names and addresses the service listens on",
    )
    http.add_argument(
        "--request-timeout",
        type=positive_float,
        default=ConnectionLimits.request_timeout_s,
        metavar="S",
        help="seconds a connection has to send a complete request (from when it opens or from "
        "the previous answer) before it is closed; also the longest an answer may stay unread",
    )
    http.add_argument(
        "--max-connections",
        type=_connections,
        default=ConnectionLimits.max_connections,
        metavar="N",
        help="connections each worker holds; a new one over it closes the one that has waited "
        "longest for its request (requests being answered are kept)",
    )
    http.add_argument(
        "--max-header-kb",
        type=_whole_number(1, 1024, "a size in KiB"),
        default=ConnectionLimits.max_header_bytes // 1024,
        metavar="KB",
        help="largest request line and headers; larger ones get 431 and the connection closes "
        "(default 64 KiB)",
    )
    http.add_argument(
        "--max-unfinished-mb",
        type=_whole_number(1, 65_536, "a size in MiB"),
        default=ConnectionLimits.max_unfinished_bytes // 1024**2,
        metavar="MB",
        help="bytes of requests still arriving (headers and bodies) a worker holds together; "
        "over it, the oldest unfinished request is closed (default 256 MiB)",
    )
    limits = serve.add_argument_group("limits (what clients may make the service do)")
    limits.add_argument(
        "--max-heavy",
        type=_workers,
        default=2,
        metavar="N",
        help="plans, walk-time matrices and coverage audits at once; more get 503",
    )
    limits.add_argument(
        "--memory-budget-mb",
        type=positive_float,
        default=2048.0,
        metavar="MB",
        help="memory heavy requests may take together, above the network; larger ones get 413",
    )
    add_network_options(serve)
