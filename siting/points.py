"""From point sets to a siting model's tables: areas, the planning boundary, station sites."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
import shapely

from quarterhour.geo.districts import district_at, district_of_code
from quarterhour.geo.reading import PICKER_ADVICE
from quarterhour.routing.network import EXTRACT_HINT
from quarterhour.routing.walktimes import with_sorted_indices
from quarterhour.siting.inputs import list_some
from quarterhour.siting.tables import SiteTable

log = logging.getLogger("quarterhour")

if TYPE_CHECKING:
    from quarterhour.geo.points import PointSet
    from quarterhour.geo.reading import Unlocated
    from quarterhour.routing.graph import WalkNetwork


def with_station_ids(stations: PointSet) -> PointSet:
    """Existing stations under the ids every output gives them: their id column, else ``existing-<row>``.

    Row numbers are no ids: they would clash with the communities' own row numbers. ``plan``,
    ``coverage`` and every route of ``serve`` use these ids, stations without coordinates too.

    Parameters
    ----------
    stations
        Existing stations as read.
    """
    if "id" in stations.columns or (len(stations) == 0 and stations.reading is None):
        return stations
    renamed = stations.with_ids([f"existing-{row}" for row in stations.ids])
    if stations.reading is not None and stations.unlocated:
        unlocated = tuple(replace(item, id=f"existing-{item.row}") for item in stations.unlocated)
        renamed = replace(renamed, reading=replace(stations.reading, unlocated=unlocated))
    log.info("%s has no id column: its stations are existing-<row>", stations.source)
    return renamed


def areas_of(points: PointSet) -> tuple[np.ndarray, np.ndarray]:
    """The district and town/street of each point (``""`` where unknown).

    Both come from the planner's columns; a point without a district column that lies in
    Shanghai gets its district from the bundled district outlines.

    Parameters
    ----------
    points
        The points.
    """
    n = len(points)
    district = points.field("district")
    if district is None:
        district = district_at(points.lon, points.lat) if n else np.empty(0, dtype=object)
    else:
        district = np.asarray([district_of_code(value) for value in district], dtype=object)
    town = points.field("town")
    if town is None:
        town = np.full(n, "", dtype=object)
    return district, town


def inside(points: PointSet, boundary: shapely.Geometry | None) -> np.ndarray:
    """Whether each point lies in the planning area (all of them without a boundary)."""
    if boundary is None:
        return np.ones(len(points), bool)
    return shapely.intersects_xy(boundary, points.lon, points.lat)


def site_table(points: PointSet, *, existing: bool, boundary: shapely.Geometry | None) -> SiteTable:
    """The sites of a point set: coordinates as given, address and areas, outside the boundary.

    Parameters
    ----------
    points
        Existing stations or candidate sites (for embedded stations, the communities).
    existing
        Whether they are existing stations.
    boundary
        The planning area, if any: sites outside it get the status ``outside_boundary``.
    """
    n = len(points)
    status = np.where(inside(points, boundary), "active", "outside_boundary").astype(object)
    input_lon, input_lat = points.input_text()
    address = points.field("address")
    district, town = areas_of(points)
    located = SiteTable(
        ids=np.asarray(points.ids, dtype=object),
        names=np.asarray(points.names, dtype=object),
        existing=np.full(n, existing),
        lon=np.asarray(points.lon, float),
        lat=np.asarray(points.lat, float),
        status=status,
        input_lon=input_lon,
        input_lat=input_lat,
        input_crs=np.full(n, points.crs, dtype=object),
        address=np.full(n, "", dtype=object) if address is None else address,
        district=district,
        town=town,
        position=np.arange(n),
    )
    if not points.unlocated or not existing:
        return located
    return SiteTable.concat(
        [located, _unlocated_sites(points.unlocated, existing=existing, crs=points.crs, start=n)]
    )


def _unlocated_sites(
    rows: tuple[Unlocated, ...], *, existing: bool, crs: str, start: int
) -> SiteTable:
    """Stations a file gives without coordinates: kept, status ``no_coordinates``, no point."""
    m = len(rows)
    text = np.full(m, "", dtype=object)
    return SiteTable(
        ids=np.asarray([row.id for row in rows], dtype=object),
        names=np.asarray([row.name or row.id for row in rows], dtype=object),
        existing=np.full(m, existing),
        lon=np.full(m, np.nan),
        lat=np.full(m, np.nan),
        status=np.full(m, "no_coordinates", dtype=object),
        input_lon=text,
        input_lat=text.copy(),
        input_crs=np.full(m, crs, dtype=object),
        address=np.asarray([row.address for row in rows], dtype=object),
        district=text.copy(),
        town=text.copy(),
        position=np.arange(start, start + m),
    )


def scatter(
    matrix: sp.csr_matrix, rows: np.ndarray, cols: np.ndarray, *, shape: tuple[int, int]
) -> sp.csr_matrix:
    """Put a smaller matrix's entries at rows ``rows`` (increasing) and columns ``cols`` of a larger one.

    Each row keeps its entries in their order, explicit zeros included.
    """
    matrix = sp.csr_matrix(matrix)
    per_row = np.zeros(shape[0], dtype=np.int64)
    per_row[rows] = np.diff(matrix.indptr)
    indptr = np.zeros(shape[0] + 1, dtype=np.int64)
    np.cumsum(per_row, out=indptr[1:])
    return sp.csr_matrix((matrix.data, cols[matrix.indices], indptr), shape=shape)


def permuted(matrix: sp.csr_matrix, rows: np.ndarray, cols: np.ndarray) -> sp.csr_matrix:
    """``matrix[rows][:, cols]`` (permutations) with sorted indices, explicit zeros kept."""
    if not np.array_equal(rows, np.arange(matrix.shape[0])):
        matrix = matrix[rows]
    if np.array_equal(cols, np.arange(matrix.shape[1])):
        return matrix if matrix.has_sorted_indices else with_sorted_indices(matrix)
    new_col = np.empty(len(cols), dtype=np.int64)
    new_col[cols] = np.arange(len(cols))
    moved = sp.csr_matrix((matrix.data, new_col[matrix.indices], matrix.indptr), shape=matrix.shape)
    return with_sorted_indices(moved)


INACTIVE_WHY: dict[str, str] = {
    "off_network": "lie more than 500 m from every street of the extract",
    "outside_boundary": "lie outside the planning area (beyond walking reach of it, or inside-only)",
    "no_coordinates": "have no coordinates (an address only)",
}
"""Why an existing station covers nothing, by its status."""


def inactive_station_warnings(sites: SiteTable) -> list[str]:
    """One warning per kind of existing station that covers nothing, naming each by its name.

    Off the network, outside the planning area, or without coordinates: a station is named by
    its name (站点名称) with its address where the file gives one, not by a generated id.
    """
    warnings = []
    for status, what in INACTIVE_WHY.items():
        picked = np.flatnonzero(sites.existing & (sites.status == status))
        if not picked.size:
            continue
        named = [
            f"{sites.names[k]} ({sites.address[k]})" if sites.address[k] else str(sites.names[k])
            for k in picked
        ]
        advice = f"; {PICKER_ADVICE}" if status == "no_coordinates" else ""
        warnings.append(
            f"{picked.size:,} existing stations {what} and cover nothing "
            f"(kept in stations.geojson with status {status}): {list_some(named, limit=20)}"
            f"{advice}"
        )
    return warnings


def station_warnings(
    network: WalkNetwork, stations: PointSet, *, boundary: shapely.Geometry | None = None
) -> list[str]:
    """The warnings a plan gives about existing stations, for a service loading them.

    Parameters
    ----------
    network
        The walking network.
    stations
        The existing stations as read.
    boundary
        The planning area, if any.
    """
    from quarterhour.routing.snapping import snap_points

    sites = site_table(stations, existing=True, boundary=boundary)
    reachable = snap_points(network, sites.lon, sites.lat).reachable
    status = sites.status.copy()
    status[~reachable & (status == "active")] = "off_network"
    return inactive_station_warnings(replace(sites, status=status))


def _extent(lon: np.ndarray, lat: np.ndarray) -> str:
    return f"lon {lon.min():.3f}..{lon.max():.3f}, lat {lat.min():.3f}..{lat.max():.3f}"


def missed_network_message(
    network: WalkNetwork, points: PointSet, in_area: np.ndarray, *, role: str = "communities"
) -> str:
    """Why no community can be planned on this network, and what to do about it."""
    if not in_area.any():
        return (
            f"none of the {len(points):,} {role} in {points.source} lies inside the boundary: is "
            "it the right outline and coordinate system?"
        )
    node_lon, node_lat = network.node_lonlat
    lon, lat = points.lon[in_area], points.lat[in_area]
    return (
        f"none of the {len(points):,} {role} in {points.source} lies within 500 m of a street "
        f"of {network.source}: the streets cover {_extent(node_lon, node_lat)}, the {role} "
        f"{_extent(lon, lat)} (WGS84). Give a street extract that covers them with --osm; "
        f"{EXTRACT_HINT}"
    )
