"""Checks of the siting inputs: one clear ``InputError`` per problem, naming the set and ids."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import shapely
from scipy.spatial import cKDTree

from quarterhour import settings
from quarterhour.geo.errors import InputError
from quarterhour.geo.projection import LocalProjection

if TYPE_CHECKING:
    from collections.abc import Sequence


def list_some(ids: Sequence[str] | np.ndarray, limit: int = 5) -> str:
    """The first ``limit`` ids, comma-separated, and how many more there are."""
    shown = [str(value) for value in list(ids)[:limit]]
    more = len(ids) - len(shown)
    return ", ".join(shown) + (f" and {more:,} more" if more > 0 else "")


def check_ids(ids: np.ndarray, role: str) -> np.ndarray:
    """Return ``ids`` as strings; raise if the set is empty or an id repeats."""
    as_text = np.asarray([str(value) for value in ids], dtype=object)
    if as_text.size == 0:
        msg = f"the {role} are empty: give at least one"
        raise InputError(msg)
    unique, counts = np.unique(as_text.astype(str), return_counts=True)
    if (counts > 1).any():
        msg = f"{role}: duplicate ids {list_some(unique[counts > 1])}; every id must be unique"
        raise InputError(msg)
    return as_text


def check_disjoint(
    existing_ids: np.ndarray, candidate_ids: np.ndarray, *, candidates_given: bool
) -> None:
    """Raise if an existing station and a candidate site share an id."""
    shared = np.intersect1d(existing_ids.astype(str), candidate_ids.astype(str))
    if shared.size:
        where = (
            "candidate sites" if candidates_given else "communities (the default candidate sites)"
        )
        msg = (
            f"existing stations and {where} share the ids {list_some(shared)}; "
            "ids must be unique across existing stations and candidates"
        )
        raise InputError(msg)


def check_weights(weight: np.ndarray | None, n: int, role: str) -> np.ndarray:
    """Return weights as floats (ones if None); raise unless finite, non-negative and of length n."""
    if weight is None:
        return np.ones(n)
    values = np.asarray(weight, float)
    if values.shape != (n,):
        msg = f"{role}: {values.size:,} weights for {n:,} points"
        raise InputError(msg)
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        msg = f"{role}: weights must be finite and non-negative (rows {list_some(np.flatnonzero(bad) + 1)})"
        raise InputError(msg)
    return values


def check_budget(budget: int | None) -> int | None:
    """Return the number of new stations as int; raise unless a whole number >= 0."""
    if budget is None:
        return None
    if isinstance(budget, bool) or not float(budget).is_integer() or budget < 0:
        msg = f"budget must be a whole number of new stations >= 0, got {budget}"
        raise InputError(msg)
    return int(budget)


def check_time_limit(seconds: float | None) -> float | None:
    """Return the time limit in seconds as float (None: none); raise unless positive and finite."""
    if seconds is None:
        return None
    value = float(seconds)
    if not math.isfinite(value) or value <= 0:
        msg = f"time limit must be a positive number of seconds, got {seconds}"
        raise InputError(msg, param="time_limit")
    return value


def check_effort(effort: float | str | None) -> float:
    """Return the search effort in [0, 1]; raise unless a number in range or a named level."""
    from quarterhour.siting.min_cover import check_effort as parse

    try:
        return parse(effort)
    except ValueError as error:
        raise InputError(str(error), param="effort") from None


def nearest_site_metres(
    lon: np.ndarray,
    lat: np.ndarray,
    site_lon: np.ndarray,
    site_lat: np.ndarray,
    *,
    projection: LocalProjection | None = None,
) -> np.ndarray:
    """Straight-line metres from each community to the nearest site (inf if there is none).

    ``projection``: the communities' own (default: chosen from ``lon``, ``lat``); a caller
    measuring some of a list's communities passes the whole list's, so the metres are the same.
    """
    if site_lon.size == 0 or lon.size == 0:
        return np.full(lon.size, np.inf)
    # The communities' UTM zone: a stray site on another continent must not move it, and
    # cannot be projected into it (inf), so it is left out.
    projection = projection or LocalProjection.for_lonlat(lon, lat)
    sites_xy = np.column_stack(projection.forward(site_lon, site_lat))
    sites_xy = sites_xy[np.isfinite(sites_xy).all(axis=1)]
    if len(sites_xy) == 0:
        return np.full(lon.size, np.inf)
    communities_xy = np.column_stack(projection.forward(lon, lat))
    distance, _ = cKDTree(sites_xy).query(communities_xy)
    return np.asarray(distance, float)


def station_area(
    boundary: shapely.Geometry | None, *, limit_m: float, inside_only: bool
) -> shapely.Geometry | None:
    """Where existing stations serve the communities inside ``boundary`` (WGS84), or None.

    A station just outside a district's outline still serves the residents inside it (a
    Huangpu station next to Jing'an): by default the area is the boundary grown by the longest
    walk (``limit_m``) and the snapping limit, which is also the street network a plan needs.
    With ``inside_only`` it is the boundary itself.

    Parameters
    ----------
    boundary
        The planning area (WGS84), or None (no area: every station serves).
    limit_m
        The walk limit in metres.
    inside_only
        Only stations inside the boundary serve (``--stations-inside-boundary``).
    """
    if boundary is None or inside_only:
        return boundary
    west, south, east, north = shapely.bounds(boundary)
    projection = LocalProjection.for_lonlat(np.array([west, east]), np.array([south, north]))

    def forward(xy: np.ndarray) -> np.ndarray:
        return np.column_stack(projection.forward(xy[:, 0], xy[:, 1]))

    def inverse(xy: np.ndarray) -> np.ndarray:
        return np.column_stack(projection.inverse(xy[:, 0], xy[:, 1]))

    grown = shapely.buffer(shapely.transform(boundary, forward), limit_m + settings.snap_max_m)
    return shapely.transform(grown, inverse)
