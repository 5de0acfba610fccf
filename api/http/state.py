"""What the server holds in memory: the network, the loaded points and cached answers.

The state is built once at start-up (see the lifespan in :mod:`quarterhour.api.http.app`) and only read by
requests, except for the caches, which are filled under a lock.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated

import orjson
from fastapi import Depends, Request

from quarterhour.api.http.guards import Admission
from quarterhour.api.http.settings import ServerConfig
from quarterhour.geo.points import PointSet
from quarterhour.routing.graph import WalkNetwork
from quarterhour.routing.network import load_network
from quarterhour.siting.audit import CoverageAudit

log = logging.getLogger("quarterhour")

AUDIT_CACHE_SIZE = 8
"""How many coverage audits (one per walk limit and speed) stay cached."""


@dataclass(eq=False)
class AppState:
    """The loaded data and the caches of one server.

    Attributes
    ----------
    config
        What was loaded.
    network
        The walking network.
    communities
        Loaded communities (WGS84), or None.
    communities_selection
        When the loaded communities were clipped to the network's area: how many rows the file
        had and how many lie outside it, left out (``AreaSelection.counts``); every answer built
        on the loaded communities carries it as ``selection``.
    stations
        Loaded existing stations (WGS84), or None.
    """

    config: ServerConfig
    network: WalkNetwork
    communities: PointSet | None = None
    stations: PointSet | None = None
    communities_selection: dict[str, int] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _network_geojson: dict[str, bytes] = field(default_factory=dict, repr=False)
    _audits: OrderedDict[tuple[object, ...], CoverageAudit] = field(
        default_factory=OrderedDict, repr=False
    )

    def cached_network_geojson(self, crs: str, build: Callable[[], dict]) -> bytes:
        """Return the network drawing in ``crs`` as JSON bytes, building it once."""
        with self._lock:
            if crs not in self._network_geojson:
                self._network_geojson[crs] = orjson.dumps(build())
            return self._network_geojson[crs]

    def cached_audit(
        self, key: tuple[object, ...], build: Callable[[], CoverageAudit]
    ) -> CoverageAudit:
        """Return the coverage audit of ``key`` (walk limit and speed), building it once."""
        with self._lock:
            if key in self._audits:
                self._audits.move_to_end(key)
                return self._audits[key]
        audit = build()
        with self._lock:
            self._audits[key] = audit
            while len(self._audits) > AUDIT_CACHE_SIZE:
                self._audits.popitem(last=False)
        return audit


def load_state(config: ServerConfig, *, network: WalkNetwork | None = None) -> AppState:
    """Load the network and the optional point files of ``config``.

    Parameters
    ----------
    config
        What to load.
    network
        An already loaded network (e.g. downloaded with ``--place``), used instead of
        ``config.network_path`` and ``config.boundary``.

    Raises
    ------
    geo.errors.QuarterhourError
        If a file cannot be read or the network has no walkable street.
    """
    from quarterhour.geo.boundary import read_boundary_crs
    from quarterhour.geo.points import read_points
    from quarterhour.siting.bundled import communities_in_network_area
    from quarterhour.siting.points import with_station_ids

    if network is None:
        boundary = (
            read_boundary_crs(config.boundary, crs=config.boundary_crs, crs_param="boundary_crs")[0]
            if config.boundary
            else None
        )
        network = load_network(config.network_path, boundary=boundary, use_cache=config.use_cache)
        log.info("%s", network.describe())
    communities = stations = selection = None
    if config.communities is not None:
        communities = read_points(
            config.communities, crs=config.communities_crs, role="communities"
        )
        if config.clip_communities:
            inside = communities_in_network_area(network, communities)
            communities, selection = inside.points, inside.counts
    if config.stations is not None:
        # As plan reads them: a station known by its address only is kept aside, not an error.
        stations = with_station_ids(
            read_points(
                config.stations, crs=config.stations_crs, role="stations", allow_unlocated=True
            )
        )
    return AppState(
        config=config,
        network=network,
        communities=communities,
        stations=stations,
        communities_selection=selection,
    )


async def get_state(request: Request) -> AppState:
    """FastAPI dependency: the state the lifespan loaded."""
    state: AppState = request.app.state.quarterhour
    return state


StateDep = Annotated[AppState, Depends(get_state)]
"""Annotation of a route parameter that receives the server state."""


async def get_admission(request: Request) -> Admission:
    """FastAPI dependency: the bounds on heavy requests."""
    admission: Admission = request.app.state.admission
    return admission


AdmissionDep = Annotated[Admission, Depends(get_admission)]
"""Annotation of a route parameter that receives the admission of heavy requests."""
