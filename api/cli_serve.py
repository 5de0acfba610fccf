"""``quarterhour serve``: the HTTP API and the planners' web map.

The lead's ``api/cli.py`` calls :func:`add_serve_command`; ``python -m api.cli_serve`` runs the
same command on its own (the benchmark uses it).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from geo.crs import CRS_NAMES
from routing import settings

Handler = Callable[[argparse.Namespace], None]
AddCommand = Callable[[str, Handler, str], argparse.ArgumentParser]

SERVE_SUMMARY = "Serve the isochrone API and the planners' web map over HTTP (FastAPI, docs at /docs)."


def cmd_serve(args: argparse.Namespace) -> None:
    """Load the network and point files, then serve until interrupted."""
    from api.app import build_app
    from api.cli import network_from_args
    from api.serving import serve_forever
    from api.settings import ServerConfig
    from api.state import load_state

    bundled = args.osm is None and getattr(args, "place", None) is None and args.communities is None
    config = ServerConfig(
        network_path=args.osm if args.osm is not None else settings.data_folder / settings.default_osm,
        communities=settings.data_folder / settings.default_communities if bundled else args.communities,
        communities_crs="gcj02" if bundled else args.communities_crs,
        stations=args.stations,
        stations_crs=args.stations_crs,
        boundary=args.boundary,
        boundary_crs=args.boundary_crs,
        use_cache=not args.no_cache,
        clip_communities=not args.all_communities,
        cors_origins=tuple(args.cors_origins),
    )
    # Bad files fail here, as one error line, before the server starts.
    state = load_state(config, network=network_from_args(args))
    app = build_app(config, state=state)
    print(
        f"quarterhour: serving {state.network.source} on http://{args.host}:{args.port}/ (docs: /docs)"
        f" with {args.workers} worker{'s' if args.workers > 1 else ''}",
        file=sys.stderr,
    )
    serve_forever(app, host=args.host, port=args.port, workers=args.workers, access_log=args.access_log)


def _port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        msg = f"{text!r} is not a TCP port (1-65535)"
        raise argparse.ArgumentTypeError(msg)
    return int(text)


def _workers(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 64:
        msg = f"{text!r} is not a number of workers (1-64)"
        raise argparse.ArgumentTypeError(msg)
    return int(text)


def add_serve_command(add: AddCommand, add_network_options: Callable[[argparse.ArgumentParser], None]) -> argparse.ArgumentParser:
    """Add the ``serve`` command to the ``quarterhour`` parser.

    Parameters
    ----------
    add
        ``add(name, handler, summary)`` returns a new sub-command parser (``api.cli.build_parser``).
    add_network_options
        Adds ``--osm``, ``--boundary``, ``--boundary-crs`` and ``--no-cache``.

    Returns
    -------
    argparse.ArgumentParser
        The ``serve`` parser.
    """
    serve = add("serve", cmd_serve, SERVE_SUMMARY)
    data = serve.add_argument_group("data (without --osm and --communities: the bundled central Shanghai compounds)")
    data.add_argument("--communities", type=Path, metavar="FILE", help="communities (CSV id,name,lon,lat[,weight]; GeoJSON; GeoPackage)")
    data.add_argument("--communities-crs", default="wgs84", choices=CRS_NAMES, help="coordinates of --communities (AMap lists are gcj02)")
    data.add_argument("--stations", type=Path, metavar="FILE", help="existing stations, for /coverage and kept by /plan")
    data.add_argument("--stations-crs", default="wgs84", choices=CRS_NAMES, help="coordinates of --stations")
    data.add_argument("--all-communities", action="store_true", help="keep communities outside the network's area")
    http = serve.add_argument_group("HTTP")
    http.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 for every interface)")
    http.add_argument("--port", type=_port, default=8000, help="TCP port")
    http.add_argument(
        "--cors-origin", dest="cors_origins", action="append", default=[], metavar="ORIGIN",
        help="allow browser calls from this origin (repeat; '*' for any)",
    )
    http.add_argument(
        "--workers", type=_workers, default=1,
        help="processes serving requests, forked after the network is loaded (use the number of cores under load)",
    )
    http.add_argument("--access-log", action="store_true", help="log every request")
    add_network_options(serve)
    return serve


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``serve`` on its own (``python -m api.cli_serve --osm FILE ...``); return the exit status."""
    from api.cli import _add_network_options, configure_logging
    from geo.errors import QuarterhourError

    parser = argparse.ArgumentParser(prog="python -m api.cli_serve", description=SERVE_SUMMARY)
    parser.add_argument("-q", "--quiet", action="store_true", help="only errors")

    def add(_name: str, handler: Handler, _summary: str) -> argparse.ArgumentParser:
        parser.set_defaults(handler=handler)
        return parser

    add_serve_command(add, _add_network_options)
    args = parser.parse_args(argv)
    configure_logging(quiet=args.quiet, verbose=False)
    try:
        args.handler(args)
    except (QuarterhourError, OSError) as error:
        print(f"quarterhour: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0

if __name__ == "__main__":
    sys.exit(main())
