"""Settings of the HTTP service, in one typed place.

``ServerConfig`` says what the server loads at start-up (network, communities, stations, CORS
origins); ``ApiLimits`` bounds what one request may ask for, so that no request can exhaust the
server, and ``ConnectionLimits`` what the connections of a worker may hold (time, header bytes,
places). They are frozen dataclasses: build one, pass it to
:func:`quarterhour.api.http.app.create_app` or :func:`quarterhour.api.http.serving.serve_forever`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from quarterhour import settings


@dataclass(frozen=True)
class ApiLimits:
    """Upper bounds of one request.

    Attributes
    ----------
    max_body_bytes
        Largest request body; larger ones get 413 before they are parsed.
    max_walktime_points
        Most sources, and most targets, of one ``POST /walktimes``.
    max_plan_points
        Most communities, candidates or existing stations posted to ``POST /plan``.
    max_plan_seconds
        Largest solver time budget of one ``POST /plan``.
    max_contour_minutes, max_contour_metres
        Largest isochrone contour, in minutes or metres walked.
    max_generalize_m
        Largest outline simplification tolerance of an isochrone.
    network_simplify_m
        Douglas-Peucker tolerance of the street lines ``GET /network`` draws.
    network_precision
        Decimal places of ``GET /network`` coordinates (5 is about 1 m).
    max_heavy_requests
        Heavy requests (plans, walk-time matrices, coverage audits) that may run at once; more
        get 503 with ``Retry-After``. Isochrones, routes and ``/health`` never wait for them.
    memory_budget_bytes
        Memory heavy requests may take together, above the network's own: each may hold its
        share (a plan too large for it gets 413 before any work).
    retry_after_s
        Seconds a client is told to wait when the service is busy.
    max_body_depth
        Deepest nesting of lists and objects in a JSON body (the deepest request needs 5);
        deeper gets 422 before it is parsed.
    max_body_values
        Most values (list items, object members) in one JSON body: a plan of 10,000
        communities with ids, names and weights holds 60,001; more gets 413 before it is parsed.
    heavy_body_bytes
        Bodies larger than this are heavy requests: they wait for no one but take one of the
        ``max_heavy_requests`` slots from their parsing to their answer (503 when none is free).
    """

    max_body_bytes: int = 4 * 1024 * 1024
    max_walktime_points: int = 2_000
    max_plan_points: int = 10_000
    max_plan_seconds: float = 60.0
    max_contour_minutes: float = 60.0
    max_contour_metres: float = 5_000.0
    max_generalize_m: float = 500.0
    network_simplify_m: float = 3.0
    network_precision: int = 5
    max_heavy_requests: int = 2
    memory_budget_bytes: int = 2 * 1024**3
    retry_after_s: int = 5
    max_body_depth: int = 32
    max_body_values: int = 200_000
    heavy_body_bytes: int = 256 * 1024

    @property
    def max_body_items(self) -> int:
        """Most items of one list or object in a JSON body: the longest point list allowed.

        A longer one gets 413 before the body is parsed (validating it would make one error
        per bad item).
        """
        return max(self.max_plan_points, self.max_walktime_points)


@dataclass(frozen=True)
class ConnectionLimits:
    """Bounds of the connections one worker holds, so that no client can exhaust the server.

    Attributes
    ----------
    request_timeout_s
        Seconds a connection has to send a complete request (request line, headers and body),
        counted from when it opens or from the end of the previous answer: a connection that
        sends nothing, or a request slowly, is closed after it (nginx's
        ``client_header_timeout``). Also the longest a client may leave an answer unread.
    keep_alive_s
        Seconds an idle keep-alive connection stays open after an answer (at most
        ``request_timeout_s``).
    max_header_bytes
        Largest request line and headers, as received; larger ones get 431 and the connection
        is closed.
    max_connections
        Connections a worker holds at once. A new one over it closes the connection that has
        waited longest for its request (idle, or sending one); requests being answered are never
        closed for it. Capped by the open-file limit.
    max_unfinished_bytes
        Bytes of unfinished requests (headers and bodies still arriving) a worker holds
        together; over it, the oldest unfinished request is closed.
    """

    request_timeout_s: float = 60.0
    keep_alive_s: float = 30.0
    max_header_bytes: int = 64 * 1024
    max_connections: int = 1_000
    max_unfinished_bytes: int = 256 * 1024**2


@dataclass(frozen=True)
class ServerConfig:
    """What the server loads at start-up.

    Attributes
    ----------
    network_path
        OpenStreetMap extract of the walking network.
    communities
        Optional communities file (CSV, GeoJSON, GeoPackage) for ``/communities``, ``/coverage``
        and ``/plan``.
    communities_crs
        Coordinates of ``communities`` (AMap lists are ``gcj02``).
    stations
        Optional existing stations file.
    stations_crs
        Coordinates of ``stations``.
    boundary
        Optional GeoJSON polygon to clip the network to.
    boundary_crs
        Coordinates of ``boundary``: default what the file declares, else WGS84 outside China
        (in China it must be given; see :func:`quarterhour.geo.boundary.read_boundary`).
    use_cache
        Reuse the on-disk network cache (default ``quarterhour.settings.use_cache``).
    clip_communities
        Keep only the communities inside the network's area: its bounding box, within the
        snapping limit of a street (``siting.bundled.communities_in_network_area``). The bundled
        compounds cover all of Shanghai, the bundled network its centre.
    cors_origins
        Origins allowed to call the API from a browser (``*`` for any).
    allowed_hosts
        Host names the service answers to (``Host`` header; ``*`` for any): by default the
        local names (localhost, 127.0.0.1, ::1).
    limits
        Bounds of one request.
    connections
        Bounds of the connections each worker holds (timeouts, header size, how many).
    """

    network_path: Path = field(default_factory=lambda: settings.data_folder / settings.default_osm)
    communities: Path | None = None
    communities_crs: str | None = None
    stations: Path | None = None
    stations_crs: str | None = None
    boundary: Path | None = None
    boundary_crs: str | None = None
    use_cache: bool | None = None
    clip_communities: bool = True
    cors_origins: tuple[str, ...] = ()
    allowed_hosts: tuple[str, ...] = ("localhost", "127.0.0.1", "::1")
    limits: ApiLimits = field(default_factory=ApiLimits)
    connections: ConnectionLimits = field(default_factory=ConnectionLimits)


API_TITLE = "quarterhour"
API_DESCRIPTION = (
    """\
Walking isochrones, walk times, coverage audits and station plans for Shanghai's 15-minute
community employment service circle (15分钟就业服务圈).

**Coordinates.** Every endpoint takes a `crs` of `wgs84` (default), `gcj02` (AMap/Gaode,
Tencent) or `bd09` (Baidu) and answers in the same system unless `out_crs` says otherwise.

**Errors.** Every error answer has one JSON shape, FastAPI's validation shape:
`{"detail": [{"loc": [...], "msg": "...", "type": "..."}]}`. 422 means a bad field (`loc` names
it), 404 a point farther than 500 m from any street (`type` `off_network`), two points no walk
joins (`no_route`) or an unknown path,
413 a body or point list over the limits, 409 data the server was not started with.

Outputs built from OpenStreetMap data carry: """
    + settings.attribution
)
