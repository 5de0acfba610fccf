"""The FastAPI application: isochrone API, coverage and siting endpoints and the planners' map.

``create_app(network_path, ...)`` returns an app that loads the walking network once, when it
starts (lifespan), and serves:

* ``GET``/``POST /isochrone`` (answered by the ASGI fast path
  :class:`~quarterhour.api.http.routes_routing.IsochroneFastPath`, documented by its FastAPI
  routes; Valhalla's request shape too), ``POST /walktimes``
  (:mod:`quarterhour.api.http.routes_routing`);
* ``GET``/``POST /route``, ``GET /nearest`` (:mod:`quarterhour.api.http.routes_route`);
* ``GET /health``, ``/network``, ``/communities``, ``/stations``, ``/coverage``
  (:mod:`quarterhour.api.http.routes_data`);
* ``POST /plan`` (:mod:`quarterhour.api.http.routes_plan`);
* ``/`` the web map (``api/static``) with Leaflet from the ``xstatic-leaflet`` package, offline;
* ``/docs`` and ``/openapi.json``.
"""

from __future__ import annotations

import logging
import os
import weakref
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from pathlib import Path

import anyio.to_thread
import fastapi_offline
import orjson
import xstatic.pkg.leaflet
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

from quarterhour import settings
from quarterhour.api.http import routes_data, routes_plan, routes_route, routes_routing
from quarterhour.api.http.bodies import BodyGuardMiddleware
from quarterhour.api.http.errors import ApiError, install_error_handlers
from quarterhour.api.http.guards import Admission, ArrivalClock, HostCheckMiddleware
from quarterhour.api.http.routes_routing import (
    IsochroneFastPath,
    ask_of_body,
    ask_of_query,
    isochrone_json,
)
from quarterhour.api.http.schemas import PlanRequest, WalkTimesRequest
from quarterhour.api.http.settings import API_DESCRIPTION, API_TITLE, ApiLimits, ServerConfig
from quarterhour.api.http.state import AppState, load_state
from quarterhour.api.workspace import routes as workspace_routes
from quarterhour.api.workspace import routes_auth
from quarterhour.api.workspace.engine import ENGINES
from quarterhour.api.workspace.schemas import WorkspaceLimits
from quarterhour.geo.errors import NetworkError
from quarterhour.routing.route import shortest_route

log = logging.getLogger("quarterhour")

STATIC_DIR = Path(__file__).resolve().parent / "static"
WORKSPACE_STATIC = STATIC_DIR.parent.parent / "workspace" / "static"
LEAFLET_DIR = Path(xstatic.pkg.leaflet.BASE_DIR)
DOCS_DIR = Path(fastapi_offline.__file__).resolve().parent / "static"
"""Swagger UI and ReDoc, from the ``fastapi-offline`` package: /docs works without internet."""


LARGE_BODIES: dict[str, type[BaseModel]] = {"/plan": PlanRequest, "/walktimes": WalkTimesRequest}
"""The request model of each path whose body may be large: validated in a thread when it is."""

_WARMED: weakref.WeakKeyDictionary[AppState, int] = weakref.WeakKeyDictionary()
"""The process that warmed each state: a forked worker warms again (its own copy-on-write
pages, and numba's dispatchers, are touched by its first requests otherwise)."""


def warm_up(state: AppState) -> None:
    """Answer every kind of isochrone request (and a route) once: the first real one is no slower.

    Loads the numba kernels and the validators, builds the network's grid index and its costs
    at the default speed. Run it before forking workers (``quarterhour serve`` does), so that
    they share all of it; the lifespan runs it again in each worker (then it takes
    milliseconds), and once in a server that does not fork.
    """
    if _WARMED.get(state) == os.getpid():
        return
    network = state.network
    lon, lat = (float(values[0]) for values in network.node_lonlat)
    valhalla = {
        "locations": [{"lat": lat, "lon": lon}],
        "costing": "pedestrian",
        "contours": [{"time": 10}, {"time": 15, "color": "ff0000"}],
        "polygons": True,
        "denoise": 0.5,
        "show_locations": True,
        "id": "warm-up",
    }
    asks = [
        ask_of_query(f"lon={lon}&lat={lat}&contours=5,10,15"),
        ask_of_query(f"lon={lon}&lat={lat}&meters=500&out_crs=gcj02&generalize=10"),
        ask_of_body(orjson.dumps(valhalla)),
        ask_of_body(orjson.dumps({**valhalla, "polygons": False, "show_locations": False})),
        # Five degrees of latitude away (550 km): off the network, the 404 path.
        ask_of_query(f"lon={lon}&lat={lat - 5.0 if lat > 0 else lat + 5.0}"),
    ]
    for ask in asks:
        with suppress(ApiError):
            isochrone_json(state, ask)
    with suppress(NetworkError):
        shortest_route(network, lon, lat, lon, lat)
    network.edge_tree  # noqa: B018 - the workspace snaps uploaded lists with it
    _WARMED[state] = os.getpid()


def build_app(
    config: ServerConfig,
    *,
    state: AppState | None = None,
    data_dir: str | Path | None = None,
    tiles: dict[str, str] | None = None,
    workspace_limits: WorkspaceLimits | None = None,
) -> FastAPI:
    """Return the application of ``config``.

    Parameters
    ----------
    config
        What to load and the request limits.
    state
        Already loaded state (the command line loads it first, to report bad files before the
        server starts); by default the lifespan loads it.
    data_dir
        The workspace's data folder (default ``quarterhour.settings.workspace_folder``).
    tiles
        The workspace page's base map: ``{"url": ..., "crs": "wgs84" | "gcj02"}``.
    workspace_limits
        Bounds of the workspace's uploads and scenarios.
    """
    # Made here, before ``serve --workers`` forks: the workers share its slots.
    admission = Admission(config.limits)
    ENGINES.bound_by(config.limits.memory_budget_bytes)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loaded = state if state is not None else await anyio.to_thread.run_sync(load_state, config)
        await anyio.to_thread.run_sync(warm_up, loaded)
        app.state.quarterhour = loaded
        app.state.admission = admission
        yield

    app = FastAPI(
        title=API_TITLE,
        description=API_DESCRIPTION,
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        license_info={
            "name": "MIT; OpenStreetMap data ODbL",
            "url": "https://www.openstreetmap.org/copyright",
        },
    )
    install_error_handlers(app)
    for router in (
        routes_routing.router,
        routes_route.router,
        routes_data.router,
        routes_plan.router,
        workspace_routes.router,
    ):
        app.include_router(router)
    app.state.workspace_dir = Path(data_dir) if data_dir else settings.workspace_folder
    app.state.workspace_tiles = tiles
    app.state.workspace_limits = workspace_limits or WorkspaceLimits()
    routes_auth.install(app, allowed_hosts=config.allowed_hosts)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.mount(
        "/workspace/static",
        StaticFiles(directory=WORKSPACE_STATIC, check_dir=False),
        name="workspace-static",
    )
    app.mount("/vendor/leaflet", StaticFiles(directory=LEAFLET_DIR), name="leaflet")
    app.mount("/vendor/docs", StaticFiles(directory=DOCS_DIR), name="docs")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        page = WORKSPACE_STATIC / "index.html"
        return FileResponse(page if page.exists() else STATIC_DIR / "index.html")

    @app.get("/map", include_in_schema=False)
    def map_page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{API_TITLE} API",
            swagger_js_url="/vendor/docs/swagger-ui-bundle.js",
            swagger_css_url="/vendor/docs/swagger-ui.css",
            swagger_favicon_url="/vendor/docs/favicon.png",
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url="/openapi.json",
            title=f"{API_TITLE} API",
            redoc_js_url="/vendor/docs/redoc.standalone.js",
            redoc_favicon_url="/vendor/docs/favicon.png",
            with_google_fonts=False,
        )

    app.add_middleware(IsochroneFastPath)
    app.add_middleware(
        BodyGuardMiddleware, limits=config.limits, admission=admission, models=LARGE_BODIES
    )
    if config.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(config.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type"],
        )
    app.add_middleware(HostCheckMiddleware, allowed=config.allowed_hosts)
    app.add_middleware(ArrivalClock)
    return app


def create_app(
    network_path: str | Path,
    *,
    communities: str | Path | None = None,
    communities_crs: str | None = None,
    stations: str | Path | None = None,
    stations_crs: str | None = None,
    boundary: str | Path | None = None,
    boundary_crs: str | None = None,
    cors_origins: Sequence[str] = (),
    allowed_hosts: Sequence[str] = ("localhost", "127.0.0.1", "::1"),
    clip_communities: bool = True,
    use_cache: bool | None = None,
    limits: ApiLimits | None = None,
    data_dir: str | Path | None = None,
) -> FastAPI:
    """Return the quarterhour application; the network loads when the app starts.

    Parameters
    ----------
    network_path
        OpenStreetMap extract (``.osm``, ``.osm.pbf``, ``.osm.bz2``).
    communities, communities_crs
        Optional communities file and its coordinates (``wgs84``, ``gcj02``, ``bd09``).
    stations, stations_crs
        Optional existing stations file and its coordinates.
    boundary, boundary_crs
        Optional GeoJSON polygon to clip the network to, and its coordinates (default: what
        the file declares, else WGS84 outside China; in China it must be given).
    cors_origins
        Origins allowed to call the API from browsers (``"*"`` for any); none by default.
    allowed_hosts
        Host names the service answers to (``"*"`` for any); the local names by default.
    clip_communities
        Keep only the communities inside the network's area (its bounding box, within the
        snapping limit of a street; see ``siting.bundled.communities_in_network_area``).
    use_cache
        Reuse the on-disk network cache (default ``quarterhour.settings.use_cache``).
    limits
        Bounds of one request (default :class:`quarterhour.api.http.settings.ApiLimits`).
    data_dir
        The workspace's data folder (default ``quarterhour.settings.workspace_folder``).
    """
    config = ServerConfig(
        network_path=Path(network_path),
        communities=Path(communities) if communities is not None else None,
        communities_crs=communities_crs,
        stations=Path(stations) if stations is not None else None,
        stations_crs=stations_crs,
        boundary=Path(boundary) if boundary is not None else None,
        boundary_crs=boundary_crs,
        use_cache=use_cache,
        clip_communities=clip_communities,
        cors_origins=tuple(cors_origins),
        allowed_hosts=tuple(allowed_hosts),
        limits=limits or ApiLimits(),
    )
    return build_app(config, data_dir=data_dir)


__all__ = ["build_app", "create_app"]
