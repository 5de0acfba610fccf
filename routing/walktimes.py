"""Walk times between point sets, and reach from network nodes, as sparse matrices."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from quarterhour import settings
from quarterhour.geo.errors import InputError, TimeLimitError, TooLargeError
from quarterhour.geo.points import PointSet, as_point_set
from quarterhour.routing.dijkstra import reach_chunk, run_in_chunks, walk_times_chunk
from quarterhour.routing.graph import WalkNetwork, cost_per_metre
from quarterhour.routing.progress import progress_bar
from quarterhour.routing.snapping import Snap, snap_points

if TYPE_CHECKING:
    from collections.abc import Iterator

    from scipy.sparse import csr_matrix

log = logging.getLogger("quarterhour")


@dataclass(frozen=True)
class WalkTimes:
    """Walk costs from sources to targets within a limit.

    Attributes
    ----------
    matrix
        CSR matrix (sources x targets) holding only the pairs within ``limit``: walk minutes,
        or metres in distance mode. Explicit zeros are real pairs (a point on top of another):
        the sparsity pattern is the coverage, never ``data > 0``.
    src_snap, dst_snap
        Where the sources and targets joined the network.
    limit
        The limit, in minutes or metres.
    metric
        ``"time"`` (minutes) or ``"distance"`` (metres).
    speed_kmh
        Walking speed (also used for the access legs in time mode).
    """

    matrix: csr_matrix
    src_snap: Snap
    dst_snap: Snap
    limit: float
    metric: str
    speed_kmh: float

    @property
    def unit(self) -> str:
        """``"min"`` or ``"m"``."""
        return "min" if self.metric == "time" else "m"


def check_limit(*, minutes: float | None, meters: float | None) -> tuple[float, str]:
    """Return ``(limit, metric)`` for a time or distance limit, raising InputError if bad."""
    if meters is not None:
        if not np.isfinite(meters) or meters <= 0:
            msg = f"must be a positive number of metres, got {meters}"
            raise InputError(msg, param="meters")
        return float(meters), "distance"
    minutes = settings.walk_limit_minutes if minutes is None else minutes
    if not np.isfinite(minutes) or minutes <= 0:
        msg = f"must be a positive number of minutes, got {minutes}"
        raise InputError(msg, param="minutes")
    return float(minutes), "time"


def check_speed(speed_kmh: float | None) -> float:
    """Return a walking speed in km/h, raising InputError unless it is plausible."""
    speed = settings.walk_speed_kmh if speed_kmh is None else float(speed_kmh)
    if not np.isfinite(speed) or not 0.5 <= speed <= 20.0:
        msg = f"must be between 0.5 and 20 km/h, got {speed_kmh}"
        raise InputError(msg, param="speed_kmh")
    return speed


def _points_by_key(
    keys: np.ndarray, n_keys: int, points: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(keys, kind="stable")
    indptr = np.zeros(n_keys + 1, dtype=np.int64)
    np.cumsum(np.bincount(keys, minlength=n_keys), out=indptr[1:])
    return indptr, points[order].astype(np.int32)


def _narrow(indptr: np.ndarray) -> np.ndarray:
    """An index kept for long in half the memory (the kernels take it widened again)."""
    return indptr.astype(np.int32) if indptr[-1] < 2**31 else indptr


def with_sorted_indices(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """``matrix`` with each row's columns in ascending order, explicit zeros kept.

    Two counting-sort passes (to columns and back) take O(nnz), where sorting every row takes
    O(nnz log) and twice as long on millions of pairs.
    """
    return matrix.tocsc().tocsr()


@dataclass(frozen=True)
class TargetIndex:
    """Snapped targets by the nodes and edges that reach them (CSR), for many walks to them.

    The pointers are kept as int32 (a project's index lives as long as its engine) and given to
    the kernels as int64 (:meth:`wide`).
    """

    node_indptr: np.ndarray
    node_targets: np.ndarray
    edge_indptr: np.ndarray
    edge_targets: np.ndarray

    @classmethod
    def of(cls, network: WalkNetwork, dst_snap: Snap) -> TargetIndex:
        """Index the targets of ``dst_snap`` on ``network`` (both ends of each target's edge)."""
        on_network = np.flatnonzero(dst_snap.reachable)
        target_edge = dst_snap.edge[on_network]
        node_of_target = np.concatenate([network.edge_u[target_edge], network.edge_v[target_edge]])
        target_twice = np.concatenate([on_network, on_network])
        node_indptr, node_targets = _points_by_key(node_of_target, network.n_nodes, target_twice)
        edge_indptr, edge_targets = _points_by_key(target_edge, network.n_edges, on_network)
        return cls(_narrow(node_indptr), node_targets, _narrow(edge_indptr), edge_targets)

    def wide(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The index as the kernels take it (int64 pointers)."""
        return (
            self.node_indptr.astype(np.int64),
            self.node_targets,
            self.edge_indptr.astype(np.int64),
            self.edge_targets,
        )


def snapped_walk_times(
    network: WalkNetwork,
    src_snap: Snap,
    dst_snap: Snap,
    *,
    minutes: float | None = None,
    speed_kmh: float | None = None,
    meters: float | None = None,
    sorted_targets: bool = True,
    targets: TargetIndex | None = None,
    quiet: bool = False,
) -> WalkTimes:
    """Walk costs between already snapped sources and targets; see :func:`walk_time_matrix`.

    With ``sorted_targets=False`` a row's targets stay in the order the walk reached them (for a
    caller that reorders the matrix anyway). ``targets`` is ``TargetIndex.of(network,
    dst_snap)``, for a caller that walks to the same targets again and again.
    """
    limit, metric = check_limit(minutes=minutes, meters=meters)
    speed = check_speed(speed_kmh)
    per_metre = cost_per_metre(speed_kmh=speed, meters=metric == "distance")
    edge_cost, arc_cost = network.costs(per_metre)
    index = targets if targets is not None else TargetIndex.of(network, dst_snap)

    n_src, n_dst = len(src_snap), len(dst_snap)
    with progress_bar(total=n_src, desc="walk times", unit="src", quiet=quiet) as bar:
        matrix = run_in_chunks(
            walk_times_chunk,
            (
                network.indptr,
                network.arc_head,
                arc_cost,
                network.edge_u,
                network.edge_v,
                edge_cost,
                src_snap.edge,
                src_snap.offset_m * per_metre,
                np.where(src_snap.reachable, src_snap.access_m, 0.0) * per_metre,
                src_snap.x,
                src_snap.y,
                *index.wide(),
                dst_snap.edge,
                dst_snap.offset_m * per_metre,
                np.where(dst_snap.reachable, dst_snap.access_m, 0.0) * per_metre,
                dst_snap.x,
                dst_snap.y,
                per_metre,
                limit,
            ),
            n_rows=n_src,
            n_cols=n_dst,
            progress=bar.update,
        )
    if sorted_targets:
        matrix = with_sorted_indices(matrix)
    log.info(
        "walk-time matrix %s x %s with %s pairs within %g %s",
        f"{n_src:,}",
        f"{n_dst:,}",
        f"{matrix.nnz:,}",
        limit,
        "min" if metric == "time" else "m",
    )
    return WalkTimes(
        matrix=matrix,
        src_snap=src_snap,
        dst_snap=dst_snap,
        limit=limit,
        metric=metric,
        speed_kmh=speed,
    )


def walk_time_matrix(
    network: WalkNetwork,
    src_lon: np.ndarray,
    src_lat: np.ndarray,
    dst_lon: np.ndarray,
    dst_lat: np.ndarray,
    *,
    minutes: float | None = None,
    speed_kmh: float | None = None,
    meters: float | None = None,
    snap_max_m: float | None = None,
    quiet: bool = False,
) -> WalkTimes:
    """Walk minutes (or metres) from every source to every target within a limit.

    Each point joins the network at its nearest edge; the off-network access legs are walked
    at the same speed. Two points that join the same edge may also walk straight to each other.
    Points farther than ``snap_max_m`` from every edge are unreachable and get no pairs.

    Parameters
    ----------
    network
        The walking network.
    src_lon, src_lat, dst_lon, dst_lat
        WGS84 degrees of sources and targets.
    minutes
        Time limit (default ``settings.walk_limit_minutes``); ignored when ``meters`` is set.
    speed_kmh
        Walking speed (default ``settings.walk_speed_kmh``).
    meters
        Distance limit: costs are metres walked instead of minutes.
    snap_max_m
        Snapping limit in metres (default ``settings.snap_max_m``).
    quiet
        Hide the progress bar.
    """
    src_snap = snap_points(network, src_lon, src_lat, max_m=snap_max_m)
    dst_snap = snap_points(network, dst_lon, dst_lat, max_m=snap_max_m)
    return snapped_walk_times(
        network,
        src_snap,
        dst_snap,
        minutes=minutes,
        speed_kmh=speed_kmh,
        meters=meters,
        quiet=quiet,
    )


def reach_from_nodes(
    network: WalkNetwork,
    sources: np.ndarray,
    *,
    limit: float,
    arc_cost: np.ndarray | None = None,
    quiet: bool = True,
) -> csr_matrix:
    """Return every node within ``limit`` of each source node (sources x nodes, costs).

    Parameters
    ----------
    network
        The walking network.
    sources
        Node indices.
    limit
        Cost limit (minutes at the default speed unless ``arc_cost`` says otherwise).
    arc_cost
        Cost of each CSR arc (default: minutes at ``settings.walk_speed_kmh``).
    quiet
        Hide the progress bar.
    """
    arc_cost = network.arc_cost() if arc_cost is None else arc_cost
    sources = np.ascontiguousarray(sources, dtype=np.int32)
    with progress_bar(total=len(sources), desc="reach", unit="src", quiet=quiet) as bar:
        return run_in_chunks(
            reach_chunk,
            (network.indptr, network.arc_head, arc_cost, sources, float(limit)),
            n_rows=len(sources),
            n_cols=network.n_nodes,
            progress=bar.update,
        )


def walk_times(
    network: WalkNetwork,
    origins: PointSet | pd.DataFrame,
    destinations: PointSet | pd.DataFrame,
    *,
    minutes: float | None = None,
    speed_kmh: float | None = None,
    meters: float | None = None,
    crs: str | None = None,
    quiet: bool = True,
) -> pd.DataFrame:
    """Walk times from every origin to every destination within a limit, as a long table.

    Parameters
    ----------
    network
        The walking network.
    origins, destinations
        Points: PointSets or (Geo)DataFrames (see
        :func:`~quarterhour.geo.points.points_from_frame`).
    minutes, speed_kmh, meters
        The limit (default ``settings.walk_limit_minutes``) and speed, or a distance limit.
    crs
        Coordinate system of frames given without one.
    quiet
        Hide the progress bar.

    Returns
    -------
    pandas.DataFrame
        One row per pair within the limit: ``from_id, to_id, walk_min`` (``walk_m`` in distance
        mode), by origin then walk time. ``attrs`` hold the limit, the speed, the ids of points
        off the network and the OpenStreetMap attribution.
    """
    sources = as_point_set(origins, crs=crs, role="origins")
    targets = as_point_set(destinations, crs=crs, role="destinations")
    times = walk_time_matrix(
        network,
        sources.lon,
        sources.lat,
        targets.lon,
        targets.lat,
        minutes=minutes,
        speed_kmh=speed_kmh,
        meters=meters,
        quiet=quiet,
    )
    pairs = times.matrix.tocoo()
    column = "walk_min" if times.metric == "time" else "walk_m"
    table = pd.DataFrame(
        {
            "from_id": sources.ids[pairs.row],
            "to_id": targets.ids[pairs.col],
            column: pairs.data,
        }
    )
    table = table.sort_values(["from_id", column], kind="stable", ignore_index=True)
    table.attrs = {
        "metric": times.metric,
        "limit": times.limit,
        "unit": times.unit,
        "speed_kmh": times.speed_kmh,
        "unreachable_from": sources.ids[~times.src_snap.reachable].tolist(),
        "unreachable_to": targets.ids[~times.dst_snap.reachable].tolist(),
        "attribution": network.attribution,
    }
    return table


SAMPLE_SOURCES = 200
"""Sources walked to estimate how many pairs a whole matrix holds."""


@dataclass(frozen=True)
class PairEstimate:
    """How many pairs within the limit a matrix will hold, from a sample of its sources.

    Attributes
    ----------
    pairs
        Expected pairs in all.
    per_source
        Mean pairs of a source (of the sample).
    sampled
        Sources walked for the estimate.
    """

    pairs: int
    per_source: float
    sampled: int


def estimate_pairs(
    network: WalkNetwork,
    src_snap: Snap,
    dst_snap: Snap,
    *,
    minutes: float | None = None,
    speed_kmh: float | None = None,
    meters: float | None = None,
    sample: int = SAMPLE_SOURCES,
) -> PairEstimate:
    """Estimate the pairs within the limit of a walk-time matrix from a sample of its sources.

    Parameters
    ----------
    network
        The walking network.
    src_snap, dst_snap
        The snapped sources and targets.
    minutes, speed_kmh, meters
        The limit, as for :func:`walk_time_matrix`.
    sample
        How many sources to walk (evenly spread over the list).
    """
    n = len(src_snap)
    if n == 0 or len(dst_snap) == 0:
        return PairEstimate(0, 0.0, 0)
    picked = np.unique(np.linspace(0, n - 1, min(sample, n)).astype(np.int64))
    times = snapped_walk_times(
        network,
        src_snap.subset(picked),
        dst_snap,
        minutes=minutes,
        speed_kmh=speed_kmh,
        meters=meters,
        quiet=True,
    )
    per_source = times.matrix.nnz / picked.size
    return PairEstimate(round(per_source * n), per_source, int(picked.size))


def walk_time_chunks(
    network: WalkNetwork,
    src_snap: Snap,
    dst_snap: Snap,
    *,
    minutes: float | None = None,
    speed_kmh: float | None = None,
    meters: float | None = None,
    pairs_per_chunk: int = 2_000_000,
    per_source: float | None = None,
    sorted_targets: bool = True,
    quiet: bool = False,
) -> Iterator[tuple[int, WalkTimes]]:
    """Walk times of the sources in chunks, so that a large matrix never sits in memory whole.

    Parameters
    ----------
    network
        The walking network.
    src_snap, dst_snap
        The snapped sources and targets.
    minutes, speed_kmh, meters
        The limit, as for :func:`walk_time_matrix`.
    pairs_per_chunk
        About how many pairs a chunk holds (its memory: about 12 bytes a pair).
    per_source
        Mean pairs of a source, if known (see :func:`estimate_pairs`); else estimated here.
    sorted_targets
        Sort each row's targets (see :func:`snapped_walk_times`).
    quiet
        Hide the progress bar.

    Yields
    ------
    tuple[int, WalkTimes]
        The first source of the chunk, and the walk times of its sources.
    """
    n = len(src_snap)
    if per_source is None:
        per_source = estimate_pairs(
            network, src_snap, dst_snap, minutes=minutes, speed_kmh=speed_kmh, meters=meters
        ).per_source
    rows = int(np.clip(pairs_per_chunk / max(per_source, 1.0), 64, 65_536))
    with progress_bar(total=n, desc="walk times", unit="src", quiet=quiet) as bar:
        for first in range(0, n, rows):
            chunk = np.arange(first, min(first + rows, n))
            yield (
                first,
                snapped_walk_times(
                    network,
                    src_snap.subset(chunk),
                    dst_snap,
                    minutes=minutes,
                    speed_kmh=speed_kmh,
                    meters=meters,
                    sorted_targets=sorted_targets,
                    quiet=True,
                ),
            )
            bar.update(chunk.size)


BYTES_PER_PAIR = 80
"""Peak memory a siting model needs for each pair within the limit (matrix, patterns, copies)."""


def bounded_walk_times(
    network: WalkNetwork,
    src_snap: Snap,
    dst_snap: Snap,
    *,
    minutes: float | None = None,
    speed_kmh: float | None = None,
    meters: float | None = None,
    max_pairs: int | None = None,
    deadline: float | None = None,
    reserve_per_pair: float = 0.0,
    quiet: bool = False,
) -> WalkTimes:
    """Walk times within bounds: refuse a matrix over ``max_pairs``, stop at ``deadline``.

    A row's targets are left in the order the walk reached them (the siting model reorders the
    matrix by id and sorts it once).

    Parameters
    ----------
    network
        The walking network.
    src_snap, dst_snap
        The snapped sources and targets.
    minutes, speed_kmh, meters
        The limit, as for :func:`walk_time_matrix`.
    max_pairs
        Refuse, before the work, a matrix expected to hold more pairs (estimated from a sample
        of the sources; see :func:`estimate_pairs`).
    deadline
        A ``time.monotonic()`` time: past it, stop between chunks.
    reserve_per_pair
        Seconds the caller needs after the walk times for each pair it expects (estimated
        before the work): the walk times stop that much before ``deadline``, so that what is
        built from them still ends within it.
    quiet
        Hide the progress bar.

    Raises
    ------
    TooLargeError
        If the matrix is expected to hold more than ``max_pairs`` pairs.
    TimeLimitError
        If ``deadline`` passes before the matrix is complete.
    """
    if max_pairs is None and deadline is None:
        return snapped_walk_times(
            network,
            src_snap,
            dst_snap,
            minutes=minutes,
            speed_kmh=speed_kmh,
            meters=meters,
            sorted_targets=False,
            quiet=quiet,
        )
    limit: dict[str, Any] = {"minutes": minutes, "speed_kmh": speed_kmh, "meters": meters}
    estimate = estimate_pairs(network, src_snap, dst_snap, **limit)
    if max_pairs is not None and estimate.pairs > max_pairs:
        memory = estimate.pairs * BYTES_PER_PAIR / 1e9
        msg = (
            f"{len(src_snap):,} x {len(dst_snap):,} points give about {estimate.pairs:,} pairs "
            f"within the limit (about {memory:,.1f} GB to plan), over the bound of "
            f"{max_pairs:,}: lower the walk limit or the speed, or use fewer points"
        )
        raise TooLargeError(msg)
    walks_end = None if deadline is None else deadline - reserve_per_pair * estimate.pairs
    pieces = []
    last = None
    chunks = walk_time_chunks(
        network,
        src_snap,
        dst_snap,
        per_source=estimate.per_source,
        pairs_per_chunk=250_000 if deadline is not None else 2_000_000,
        sorted_targets=False,
        quiet=quiet,
        **limit,
    )
    for _, last in chunks:
        pieces.append(last.matrix)
        done = sum(piece.shape[0] for piece in pieces)
        if walks_end is not None and done < len(src_snap) and time.monotonic() > walks_end:
            msg = (
                f"the time limit ran out while computing walk times ({done:,} of "
                f"{len(src_snap):,} sources done): give more time, or fewer points"
            )
            raise TimeLimitError(msg)
    if last is None:
        return snapped_walk_times(
            network, src_snap, dst_snap, sorted_targets=False, quiet=True, **limit
        )
    matrix = sp.vstack(pieces, format="csr") if len(pieces) > 1 else pieces[0]
    return replace(last, matrix=matrix, src_snap=src_snap)
