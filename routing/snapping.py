"""Snap points to the nearest walkable edge, with the off-network access leg."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import shapely

from quarterhour import settings

if TYPE_CHECKING:
    from quarterhour.routing.graph import WalkNetwork

log = logging.getLogger("quarterhour")


@dataclass(frozen=True)
class Snap:
    """Where points join the network.

    Attributes
    ----------
    edge
        Nearest edge of each point, -1 where the point is unreachable.
    offset_m
        Distance along the edge from its ``edge_u`` end to the snapped position.
    access_m
        Straight-line distance from the point to the edge (the off-network leg); for an
        unreachable point, its distance to the nearest edge (inf if none was searched).
    reachable
        Whether the point lies within the snapping limit of a walkable edge.
    max_m
        The snapping limit used.
    x, y
        The points in the network's metric projection.
    """

    edge: np.ndarray
    offset_m: np.ndarray
    access_m: np.ndarray
    reachable: np.ndarray
    max_m: float
    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.edge)

    def subset(self, mask: np.ndarray) -> Snap:
        """The snaps of the points picked by a boolean mask (or positions), in that order."""
        return Snap(
            edge=self.edge[mask],
            offset_m=self.offset_m[mask],
            access_m=self.access_m[mask],
            reachable=self.reachable[mask],
            max_m=self.max_m,
            x=self.x[mask],
            y=self.y[mask],
        )

    @property
    def n_unreachable(self) -> int:
        """Number of points farther than the limit from any walkable edge."""
        return int((~self.reachable).sum())


def snap_points(
    network: WalkNetwork,
    lon: np.ndarray,
    lat: np.ndarray,
    *,
    max_m: float | None = None,
) -> Snap:
    """Snap WGS84 points to their nearest edge.

    Points farther than ``max_m`` from every walkable edge are flagged unreachable, never
    silently snapped; their ``access_m`` still says how far off they are.

    Parameters
    ----------
    network
        The walking network.
    lon, lat
        WGS84 degrees.
    max_m
        Snapping limit in metres (default ``settings.snap_max_m``).
    """
    max_m = settings.snap_max_m if max_m is None else float(max_m)
    x, y = network.projection.forward(np.atleast_1d(lon), np.atleast_1d(lat))
    points = np.asarray(shapely.points(x, y))
    n = len(points)
    edge = np.full(n, -1, dtype=np.int64)
    access = np.full(n, np.inf)
    offset = np.zeros(n)
    # Every equidistant nearest edge comes back; the lowest edge id wins, so ties are stable.
    (point_index, edge_index), distance = network.edge_tree.query_nearest(
        points, all_matches=True, return_distance=True
    )
    order = np.lexsort((edge_index, point_index))
    point_index, edge_index, distance = point_index[order], edge_index[order], distance[order]
    first = np.unique(point_index, return_index=True)[1]
    point_index, edge_index, distance = point_index[first], edge_index[first], distance[first]
    access[point_index] = distance
    reachable = access <= max_m
    chosen = point_index[reachable[point_index]]
    chosen_edge = edge_index[reachable[point_index]]
    edge[chosen] = chosen_edge
    lines = network.edge_lines[chosen_edge]
    planar_offset = shapely.line_locate_point(lines, points[chosen])
    planar_length = shapely.length(lines)
    scale = np.divide(
        network.edge_length_m[chosen_edge],
        planar_length,
        out=np.ones_like(planar_length),
        where=planar_length > 0,
    )
    offset[chosen] = np.clip(planar_offset * scale, 0.0, network.edge_length_m[chosen_edge])
    snap = Snap(
        edge=edge, offset_m=offset, access_m=access, reachable=reachable, max_m=max_m, x=x, y=y
    )
    if snap.n_unreachable:
        log.debug(
            "%s of %s points lie more than %g m from any walkable edge",
            f"{snap.n_unreachable:,}",
            f"{n:,}",
            max_m,
        )
    return snap
