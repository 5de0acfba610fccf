"""Hand edits of a scenario's stations: add, move, remove, lock, unlock, set aides; sites."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from quarterhour.api.http.errors import ApiError
from quarterhour.api.workspace.engine import to_wgs84
from quarterhour.api.workspace.schemas import (
    AddStation,
    MoveStation,
    SiteOp,
    StationAides,
    StationOp,
)

if TYPE_CHECKING:
    from quarterhour.api.workspace.engine import ProjectEngine


def _find(stations: list[dict[str, object]], station_id: str) -> int:
    for k, station in enumerate(stations):
        if str(station["id"]) == station_id:
            return k
    msg = f"no station {station_id!r} in this scenario"
    raise ApiError(404, loc=("body", "station_id"), msg=msg, kind="not_found")


def _new_id(engine: ProjectEngine, stations: list[dict[str, object]]) -> str:
    """An id no station, community or site of the project has: 新站-1, 新站-2 ..."""
    taken = {str(station["id"]) for station in stations}
    k = len(stations) + 1
    while f"新站-{k}" in taken or any(
        engine.sites.position(f"{role}:新站-{k}") is not None
        for role in ("existing", "candidates", "communities")
    ):
        k += 1
    return f"新站-{k}"


def apply_edit(
    engine: ProjectEngine,
    stations: list[dict[str, object]],
    excluded: list[str],
    edit: AddStation | MoveStation | StationOp | StationAides | SiteOp,
    *,
    max_stations: int,
) -> tuple[list[dict[str, object]], list[str], list[str]]:
    """Apply one edit; return the new stations, excluded sites and the ids of changed stations.

    Raises
    ------
    ApiError
        404 for an unknown station or community, 422 for an edit that cannot be made.
    """
    stations = [dict(station) for station in stations]
    excluded = list(excluded)
    if isinstance(edit, AddStation):
        if len(stations) >= max_stations:
            msg = f"a scenario holds at most {max_stations:,} stations"
            raise ApiError(422, loc=("body", "op"), msg=msg, kind="value_error")
        station = _added(engine, stations, edit)
        stations.append(station)
        return stations, excluded, [str(station["id"])]
    if isinstance(edit, SiteOp):
        if engine.sites.position(f"candidates:{edit.site_id}") is None and (
            engine.sites.position(f"communities:{edit.site_id}") is None
        ):
            msg = f"no candidate site {edit.site_id!r} in this project"
            raise ApiError(404, loc=("body", "site_id"), msg=msg, kind="not_found")
        if edit.op == "exclude" and edit.site_id not in excluded:
            excluded.append(edit.site_id)
        if edit.op == "include" and edit.site_id in excluded:
            excluded.remove(edit.site_id)
        return stations, excluded, []
    k = _find(stations, edit.station_id)
    if isinstance(edit, StationAides):
        stations[k]["aides"] = int(edit.aides)
    elif isinstance(edit, StationOp):
        if edit.op == "remove":
            stations.pop(k)
        else:
            stations[k]["locked"] = edit.op == "lock"
    else:  # move
        lon, lat = to_wgs84(edit.lon, edit.lat, edit.crs)
        stations[k] |= {
            "lon": lon,
            "lat": lat,
            "site": None,
            "input": [f"{edit.lon:.7f}", f"{edit.lat:.7f}", edit.crs],
        }
    return stations, excluded, [edit.station_id]


def _added(
    engine: ProjectEngine, stations: list[dict[str, object]], edit: AddStation
) -> dict[str, object]:
    if edit.community_id is not None:
        ids = np.asarray(engine.homes.ids, dtype=object).astype(str)
        where = np.flatnonzero(ids == edit.community_id)
        if where.size == 0:
            msg = f"no community {edit.community_id!r} in this project"
            raise ApiError(404, loc=("body", "community_id"), msg=msg, kind="not_found")
        if any(str(station["id"]) == edit.community_id for station in stations):
            msg = f"a station already stands at community {edit.community_id!r}"
            raise ApiError(422, loc=("body", "community_id"), msg=msg, kind="value_error")
        row = int(where[0])
        return {
            "id": edit.community_id,
            "name": edit.name or str(engine.homes.names[row]),
            "kind": "new",
            "lon": float(engine.homes.lon[row]),
            "lat": float(engine.homes.lat[row]),
            "locked": False,
            "site": f"communities:{edit.community_id}",
        }
    if edit.lon is None or edit.lat is None:
        msg = "give lon and lat (with crs), or community_id"
        raise ApiError(422, loc=("body", "lon"), msg=msg, kind="value_error")
    lon, lat = to_wgs84(edit.lon, edit.lat, edit.crs)
    identifier = _new_id(engine, stations)
    return {
        "id": identifier,
        "name": edit.name or identifier,
        "kind": "new",
        "lon": lon,
        "lat": lat,
        "locked": False,
        "site": None,
        "input": [f"{edit.lon:.7f}", f"{edit.lat:.7f}", edit.crs],
    }
