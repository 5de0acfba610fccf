"""quarterhour: plan community employment service stations within a 15-minute walk.

The public API, for notebooks and scripts::

    import quarterhour as qh

    net = qh.load_network("qingpu.osm.pbf")                  # or qh.download_network(...)
    homes = qh.read_points("社区.xlsx", crs="gcj02")           # or qh.points_from_frame(gdf)
    iso = qh.isochrones(net, (121.11, 31.15), minutes=[5, 10, 15], crs="gcj02")
    way = qh.route(net, (121.11, 31.15), (121.12, 31.16), crs="gcj02")  # way.minutes, way.to_geojson()
    near = qh.nearest_stations(net, (121.11, 31.15), stations, k=3, crs="gcj02")
    wt = qh.walk_times(net, homes, stations, minutes=15)
    model = qh.CoverageModel.from_points(net, homes, existing=stations, minutes=15)
    plan = model.solve()                                      # or model.solve(budget=20)
    staffed = model.solve(capacity=qh.Capacity(10_000, max_aides=2))  # aides x residents each
    plan.stations, plan.assignments, plan.summary
    today = model.audit()
    qh.report(plan, "report.pdf")                             # the ``report`` extra
    qh.explore(plan)                                          # the ``notebooks`` extra

Defaults (walking speed, walk limit, snapping limit, cache folder ...) live in
:mod:`quarterhour.settings` and are read when a function is called.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from quarterhour import settings
from quarterhour.geo.boundary import read_boundary
from quarterhour.geo.crs import convert
from quarterhour.geo.errors import (
    InputError,
    MissingExtraError,
    NetworkError,
    NoRouteError,
    QuarterhourError,
)
from quarterhour.geo.points import PointSet, points_from_frame, read_points
from quarterhour.routing.graph import WalkNetwork
from quarterhour.routing.isochrone import isochrones
from quarterhour.routing.network import build_network, download_network, load_network
from quarterhour.routing.route import Route, nearest_stations, route
from quarterhour.routing.walktimes import walk_times
from quarterhour.siting.audit import CoverageAudit
from quarterhour.siting.bundled import default_communities as bundled_communities
from quarterhour.siting.capacity import Capacity
from quarterhour.siting.model import CoverageModel
from quarterhour.siting.plan import coverage_audit
from quarterhour.siting.result import SitingResult

if TYPE_CHECKING:
    from quarterhour.api.report.build import build_report as report
    from quarterhour.api.report.maps import plot
    from quarterhour.api.report.webmap import explore

__version__ = "0.2.0"

# Functions of the optional extras, imported when first used so that the core needs none of them.
_LAZY = {
    "report": ("quarterhour.api.report", "build_report"),
    "plot": ("quarterhour.api.report.maps", "plot"),
    "explore": ("quarterhour.api.report.webmap", "explore"),
}

__all__ = [
    "Capacity",
    "CoverageAudit",
    "CoverageModel",
    "InputError",
    "MissingExtraError",
    "NetworkError",
    "NoRouteError",
    "PointSet",
    "QuarterhourError",
    "Route",
    "SitingResult",
    "WalkNetwork",
    "__version__",
    "build_network",
    "bundled_communities",
    "convert",
    "coverage_audit",
    "download_network",
    "explore",
    "isochrones",
    "load_network",
    "nearest_stations",
    "plot",
    "points_from_frame",
    "read_boundary",
    "read_points",
    "report",
    "route",
    "settings",
    "walk_times",
]


def __getattr__(name: str) -> object:
    if name in _LAZY:
        module, attribute = _LAZY[name]
        return getattr(import_module(module), attribute)
    msg = f"module 'quarterhour' has no attribute {name!r}"
    raise AttributeError(msg)
