"""The capacitated assignment as a minimum-cost maximum flow, exact, in numba.

The network: a source with an arc to every community (room: its demand), an arc from community
``i`` to station ``j`` for every stored pair (its walk cost, no bound), an arc from every station
to a sink (room: its capacity). Wanted: a maximum flow, and among maximum flows the one of least
``sum flow * cost`` (what :func:`quarterhour.siting.capacity.assign_within` serves).

1. Successive shortest paths from one community at a time: Dijkstra on reduced costs (node
   potentials keep them non-negative) stopped at the sink, so a community next to a station
   with room costs a few heap pops. A node that cannot reach the sink never can again (an
   augmentation only adds arcs between nodes that reach it), so a failed search marks what it
   saw dead and later searches skip it. This yields a maximum flow, of least cost for the demand
   each community got.
2. That is not yet the least cost among maximum flows when capacity is short: a far community
   may have taken the last room a near one needed. The nodes that cannot reach the sink (``A``)
   are, with the source, the source side of a minimum cut, so every maximum flow fills their
   stations with their communities only and serves every other community whole with the other
   stations. The rest is thus optimal already, and ``A`` is solved again from the stations'
   side: each station ships its whole capacity to its communities (at most their demand),
   which fixes every supply and so makes successive shortest paths exact again.
3. Where equal walks tie, the flow may still split more communities than it needs to: flow is
   moved round every cycle of pairs that carry some (at no cost) until it carries flow on a
   forest, a vertex as the simplex method gives.

Amounts are scaled so that the largest demand or capacity is 1; an amount at most
:data:`EPSILON` counts as none (no zero-length augmentations, no endless loops).
"""

from __future__ import annotations

import time
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
from numba.core import types

from quarterhour.routing.jit import (
    BOOLS,
    FLOAT,
    FLOATS,
    FLOATS_READ,
    INT,
    INT64S_READ,
    kernel,
)
from quarterhour.routing.route_kernels import _sift_down, _sift_up

EPSILON = 1e-12
"""Amount, as a share of the largest demand or capacity, that counts as none."""

WORK_PER_CHUNK = 1 << 20
"""Arcs scanned between two looks at the deadline (a few milliseconds)."""


class FlowNetwork(NamedTuple):
    """A bipartite network as index arrays, its pairs numbered source by source.

    numba takes it as one argument.

    Attributes
    ----------
    source_ptr, pair_target, pair_cost
        The pairs of source ``i`` are ``source_ptr[i]:source_ptr[i + 1]``, to targets
        ``pair_target``, at cost ``pair_cost``.
    target_ptr, target_pairs, pair_source
        The pairs into target ``j`` are ``target_pairs[target_ptr[j]:target_ptr[j + 1]]``; each
        pair's source.
    """

    source_ptr: np.ndarray
    pair_target: np.ndarray
    pair_cost: np.ndarray
    target_ptr: np.ndarray
    target_pairs: np.ndarray
    pair_source: np.ndarray

    @classmethod
    def of(
        cls, source_ptr: np.ndarray, pair_target: np.ndarray, pair_cost: np.ndarray, n_targets: int
    ) -> FlowNetwork:
        """The network of pairs numbered source by source, with its index by target."""
        source_ptr = np.ascontiguousarray(source_ptr, np.int64)
        pair_target = np.ascontiguousarray(pair_target, np.int64)
        n_sources = source_ptr.size - 1
        pairs = np.arange(pair_target.size, dtype=np.int64)
        by_target = sp.csr_matrix(  # the transpose by scipy: a counting sort, sources in order
            (pairs, pair_target, source_ptr), shape=(n_sources, n_targets)
        ).tocsc()
        target_ptr = by_target.indptr.astype(np.int64)
        target_pairs = by_target.data.astype(np.int64)
        pair_source = np.repeat(np.arange(n_sources, dtype=np.int64), np.diff(source_ptr))
        return cls(
            source_ptr,
            pair_target,
            np.ascontiguousarray(pair_cost, np.float64),
            target_ptr,
            target_pairs,
            pair_source,
        )

    @property
    def n_sources(self) -> int:
        """Number of sources."""
        return self.source_ptr.size - 1

    @property
    def n_targets(self) -> int:
        """Number of targets."""
        return self.target_ptr.size - 1

    def potentials(self) -> np.ndarray:
        """Node potentials under which every arc's reduced cost is non-negative (flow none).

        Sources, then targets, then the sink: 0, each target's least cost in (at most 0), and
        the least of those.
        """
        target = np.zeros(self.n_targets)
        np.minimum.at(target, self.pair_target, self.pair_cost)
        return np.concatenate([np.zeros(self.n_sources), target, [float(target.min(initial=0.0))]])


NETWORK = types.NamedTuple(
    (INT64S_READ, INT64S_READ, FLOATS_READ, *(INT64S_READ,) * 3), FlowNetwork
)
"""The numba type of a network, as compiled ahead of time."""


@kernel
def _push(key: np.ndarray, node: np.ndarray, size: int, value: float, item: int) -> int:
    key[size] = value
    node[size] = item
    _sift_up(key, node, size)
    return size + 1


@kernel(ahead_of_time=[INT(NETWORK, FLOATS, FLOATS, FLOATS, FLOATS, BOOLS, INT, INT, FLOAT)])
def send_from_sources(
    network: FlowNetwork,
    flow: np.ndarray,
    supply: np.ndarray,
    room: np.ndarray,
    potential: np.ndarray,
    dead: np.ndarray,
    start: int,
    budget: int,
    epsilon: float,
) -> int:
    """Send every source's supply to targets with room by successive shortest paths.

    Sources from ``start`` on, one at a time, each along least reduced-cost paths (Dijkstra,
    stopped at the sink) until its supply is sent or no path is left (what that search saw is
    then marked ``dead``). ``flow`` (per pair), ``supply``, ``room`` (per target),
    ``potential`` (sources, targets, sink) and ``dead`` (sources, targets) are updated in
    place; pass them again to go on. Returns the source to go on from after scanning about
    ``budget`` arcs, or the number of sources when every one is done.
    """
    source_ptr, pair_target, pair_cost, target_ptr, target_pairs, pair_source = network
    n_sources = source_ptr.size - 1
    n_targets = target_ptr.size - 1
    sink = n_sources + n_targets
    dist = np.full(sink + 1, np.inf)
    via = np.full(sink + 1, -1, np.int64)  # the pair (for the sink: the target) it came by
    done = np.zeros(sink + 1, np.bool_)
    seen = np.empty(sink + 1, np.int64)
    heap_key = np.empty(2 * pair_target.size + n_targets + 2)
    heap_node = np.empty(heap_key.size, np.int64)
    work = 0
    source = start
    while source < n_sources:
        if supply[source] <= epsilon or dead[source]:
            source += 1
            continue
        if work >= budget:
            return source
        n_seen = 1
        seen[0] = source
        dist[source] = 0.0
        size = _push(heap_key, heap_node, 0, 0.0, source)
        reached = False
        while size > 0:
            node = heap_node[0]
            size -= 1
            heap_key[0], heap_node[0] = heap_key[size], heap_node[size]
            _sift_down(heap_key, heap_node, size)
            if done[node]:
                continue
            done[node] = True
            if node == sink:
                reached = True
                break
            here = dist[node] + potential[node]
            # the relaxation is written out for each kind of arc: a helper inlined by numba
            # keeps its arrays' reference counting in the loop (2.5x slower)
            if node < n_sources:  # a community: its pairs forward
                work += source_ptr[node + 1] - source_ptr[node] + 1
                for pair in range(source_ptr[node], source_ptr[node + 1]):
                    head = n_sources + pair_target[pair]
                    if done[head] or dead[head]:
                        continue
                    length = max(here + pair_cost[pair] - potential[head], dist[node])
                    if length < dist[head]:
                        if dist[head] == np.inf:
                            seen[n_seen] = head
                            n_seen += 1
                        dist[head] = length
                        via[head] = pair
                        size = _push(heap_key, heap_node, size, length, head)
                continue
            target = node - n_sources
            if room[target] > epsilon and not done[sink]:
                length = max(here - potential[sink], dist[node])
                if length < dist[sink]:
                    if dist[sink] == np.inf:
                        seen[n_seen] = sink
                        n_seen += 1
                    dist[sink] = length
                    via[sink] = node
                    size = _push(heap_key, heap_node, size, length, sink)
            work += target_ptr[target + 1] - target_ptr[target] + 1
            for k in range(target_ptr[target], target_ptr[target + 1]):  # pairs backward
                pair = target_pairs[k]
                head = pair_source[pair]
                if flow[pair] <= epsilon or done[head] or dead[head]:
                    continue
                length = max(here - pair_cost[pair] - potential[head], dist[node])
                if length < dist[head]:
                    if dist[head] == np.inf:
                        seen[n_seen] = head
                        n_seen += 1
                    dist[head] = length
                    via[head] = pair
                    size = _push(heap_key, heap_node, size, length, head)
        if reached:
            last = via[sink]
            amount = min(supply[source], room[last - n_sources])
            node = last
            while node != source:
                pair = via[node]
                if node < n_sources:
                    amount = min(amount, flow[pair])
                    node = n_sources + pair_target[pair]
                else:
                    node = pair_source[pair]
            node = last
            while node != source:
                pair = via[node]
                if node < n_sources:
                    flow[pair] -= amount
                    node = n_sources + pair_target[pair]
                else:
                    flow[pair] += amount
                    node = pair_source[pair]
            supply[source] -= amount
            room[last - n_sources] -= amount
            for k in range(n_seen):  # potentials of the settled nodes: reduced costs stay >= 0
                node = seen[k]
                if done[node]:
                    potential[node] += dist[node] - dist[sink]
        else:  # it saw every node it can reach: none reaches room, nor ever will
            for k in range(n_seen):
                dead[seen[k]] = True
            source += 1
        for k in range(n_seen):
            node = seen[k]
            dist[node] = np.inf
            done[node] = False
    return n_sources


@kernel(ahead_of_time=[BOOLS(NETWORK, FLOATS_READ, FLOATS_READ, FLOAT)])
def reaching_room(
    network: FlowNetwork, flow: np.ndarray, room: np.ndarray, epsilon: float
) -> np.ndarray:
    """Sources, then targets, from which a path of arcs with room reaches a target with room."""
    source_ptr, pair_target, _, target_ptr, target_pairs, pair_source = network
    n_sources = source_ptr.size - 1
    n_targets = target_ptr.size - 1
    reaches = np.zeros(n_sources + n_targets, np.bool_)
    queue = np.empty(n_sources + n_targets, np.int64)
    size = 0
    for target in range(n_targets):
        if room[target] > epsilon:
            reaches[n_sources + target] = True
            queue[size] = n_sources + target
            size += 1
    first = 0
    while first < size:
        node = queue[first]
        first += 1
        if node >= n_sources:  # every pair into it is an arc with room
            target = node - n_sources
            for k in range(target_ptr[target], target_ptr[target + 1]):
                tail = pair_source[target_pairs[k]]
                if not reaches[tail]:
                    reaches[tail] = True
                    queue[size] = tail
                    size += 1
        else:  # a target reaches the sources it takes flow from
            for pair in range(source_ptr[node], source_ptr[node + 1]):
                tail = n_sources + pair_target[pair]
                if flow[pair] > epsilon and not reaches[tail]:
                    reaches[tail] = True
                    queue[size] = tail
                    size += 1
    return reaches


@kernel(ahead_of_time=[INT(NETWORK, FLOATS, FLOAT)])
def break_cycles(network: FlowNetwork, flow: np.ndarray, epsilon: float) -> int:
    """Move flow around every cycle of pairs that carry some until one of them carries none.

    Each cycle goes the way that costs no more (in a least-cost flow, both ways cost the same
    up to rounding), by the least flow of the pairs it lowers, so sources and targets send and
    take what they did. What is left carries flow on a forest: a vertex of the transportation
    polytope, as the simplex method would give, with at most one split community per station.
    Returns the number of cycles broken.
    """
    source_ptr, pair_target, pair_cost, target_ptr, target_pairs, pair_source = network
    n_sources = source_ptr.size - 1
    n_nodes = n_sources + target_ptr.size - 1
    state = np.zeros(n_nodes, np.int8)  # 0 unseen, 1 on the path from the root, 2 finished
    up = np.full(n_nodes, -1, np.int64)  # the pair to the parent
    next_arc = np.zeros(n_nodes, np.int64)
    stack = np.empty(n_nodes, np.int64)
    members = np.empty(n_nodes, np.int64)
    broken = 0
    for root in range(n_nodes):
        if state[root] != 0:
            continue
        n_members = 0
        restart = True
        while restart:
            restart = False
            for k in range(n_members):  # the component again, after a cycle was broken
                state[members[k]] = 0
            n_members = 1
            members[0] = root
            state[root] = 1
            up[root] = -1
            next_arc[root] = source_ptr[root] if root < n_sources else target_ptr[root - n_sources]
            depth = 1
            stack[0] = root
            while depth > 0 and not restart:
                node = stack[depth - 1]
                end = source_ptr[node + 1] if node < n_sources else target_ptr[node - n_sources + 1]
                if next_arc[node] >= end:
                    state[node] = 2
                    depth -= 1
                    continue
                k = next_arc[node]
                next_arc[node] += 1
                pair = k if node < n_sources else target_pairs[k]
                if flow[pair] <= epsilon or pair == up[node]:
                    continue
                other = n_sources + pair_target[pair] if node < n_sources else pair_source[pair]
                if state[other] == 2:
                    continue
                if state[other] == 0:
                    state[other] = 1
                    up[other] = pair
                    if other < n_sources:
                        next_arc[other] = source_ptr[other]
                    else:
                        next_arc[other] = target_ptr[other - n_sources]
                    members[n_members] = other
                    n_members += 1
                    stack[depth] = other
                    depth += 1
                    continue
                # a cycle: from ``other`` by ``pair`` to ``node``, then up the tree to ``other``;
                # one unit forward round it adds one on the pairs that reach a target, and
                # takes one off the pairs that reach a source
                forward_cost = 0.0
                most_forward = np.inf  # the least flow of the pairs going forward lowers
                most_backward = np.inf  # and going backward
                step, at = pair, node
                while True:
                    if at < n_sources:
                        forward_cost -= pair_cost[step]
                        most_forward = min(most_forward, flow[step])
                    else:
                        forward_cost += pair_cost[step]
                        most_backward = min(most_backward, flow[step])
                    if at == other:
                        break
                    step = up[at]
                    at = n_sources + pair_target[step] if at < n_sources else pair_source[step]
                change = most_forward if forward_cost <= 0 else -most_backward
                step, at = pair, node
                while True:
                    flow[step] += -change if at < n_sources else change
                    if flow[step] <= epsilon:
                        flow[step] = 0.0
                    if at == other:
                        break
                    step = up[at]
                    at = n_sources + pair_target[step] if at < n_sources else pair_source[step]
                broken += 1
                restart = True
    return broken


def _send_all(
    network: FlowNetwork,
    supply: np.ndarray,
    room: np.ndarray,
    deadline: float | None,
) -> tuple[np.ndarray, bool]:
    """Per pair, the flow that sends the most supply at least cost; whether done by the deadline."""
    flow = np.zeros(network.pair_target.size)
    potential = network.potentials()
    dead = np.zeros(network.n_sources + network.n_targets, np.bool_)
    budget = np.iinfo(np.int64).max if deadline is None else WORK_PER_CHUNK
    start = 0
    while start < network.n_sources:
        if deadline is not None and time.perf_counter() > deadline:
            return flow, False
        start = int(
            send_from_sources(network, flow, supply, room, potential, dead, start, budget, EPSILON)
        )
    return flow, True


def least_cost_max_flow(
    cost: sp.csr_matrix,
    demand: np.ndarray,
    capacity: np.ndarray,
    *,
    deadline: float | None = None,
) -> tuple[np.ndarray, bool]:
    """Per stored pair of ``cost``, the flow of a least-cost maximum flow (module docstring).

    Parameters
    ----------
    cost
        Cost of the pairs communities x stations (CSR with sorted indices; stored pairs only).
    demand
        Per community, the most it may send (non-negative).
    capacity
        Per station, the most it may take (non-negative).
    deadline
        ``time.perf_counter()`` time by which to stop.

    Raises
    ------
    ValueError
        A cost, demand or capacity that is not finite, or a negative demand or capacity.

    Returns
    -------
    flow, finished
        Per stored pair, its flow (in the units of ``demand``); False when the deadline came
        first (the flow is then partial, within demands and capacities, not to be used as it is).
    """
    n_cols = cost.shape[1]
    demand = np.asarray(demand, float)
    capacity = np.asarray(capacity, float)
    if not np.all(np.isfinite(cost.data)):
        msg = "the assignment's cost must be finite"
        raise ValueError(msg)
    for name, values in (("demand", demand), ("capacity", capacity)):
        if not np.all(np.isfinite(values) & (values >= 0)):
            msg = f"the assignment's {name} must be finite and non-negative"
            raise ValueError(msg)
    unit = max(float(np.max(demand, initial=0.0)), float(np.max(capacity, initial=0.0)))
    if cost.nnz == 0 or unit <= 0:
        return np.zeros(cost.nnz), True
    network = FlowNetwork.of(cost.indptr, cost.indices, cost.data, n_cols)
    room = capacity / unit
    flow, finished = _send_all(network, demand / unit, room, deadline)
    if finished:
        finished = _short_side_again(network, flow, demand / unit, room, deadline)
    if finished:
        break_cycles(network, flow, EPSILON)
    return flow * unit, finished


def _short_side_again(
    network: FlowNetwork,
    flow: np.ndarray,
    demand: np.ndarray,
    room: np.ndarray,
    deadline: float | None,
) -> bool:
    """The least-cost flow of the side that cannot reach room, from the stations' side.

    ``flow`` is a maximum flow (per pair) and ``room`` what it leaves of each capacity; the
    flow of the short side is replaced in place. False if the deadline came first.
    """
    n_rows = network.n_sources
    pair_row = network.pair_source
    unserved = demand - np.bincount(pair_row, weights=flow, minlength=n_rows)
    reaches = reaching_room(network, flow, room, EPSILON)
    short_rows = ~reaches[:n_rows]
    linked = np.diff(network.source_ptr) > 0
    if not np.any(unserved[short_rows & linked] > EPSILON):  # every supply fixed: optimal
        return True
    short_cols = ~reaches[n_rows:]
    # the short side's pairs station by station, in its own numbers
    pairs = np.flatnonzero(short_rows[pair_row])
    pairs = pairs[np.argsort(network.pair_target[pairs], kind="stable")]
    station = (np.cumsum(short_cols) - 1)[network.pair_target[pairs]]
    n_stations = int(short_cols.sum())
    station_ptr = np.zeros(n_stations + 1, np.int64)
    np.cumsum(np.bincount(station, minlength=n_stations), out=station_ptr[1:])
    community = (np.cumsum(short_rows) - 1)[pair_row[pairs]]
    reverse = FlowNetwork.of(
        station_ptr, community, network.pair_cost[pairs], int(short_rows.sum())
    )
    shipped = np.bincount(station, weights=flow[pairs], minlength=n_stations)
    again, finished = _send_all(reverse, shipped, demand[short_rows], deadline)
    flow[pairs] = again
    return finished
