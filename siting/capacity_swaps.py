"""Swaps that improve a capacitated plan, each checked on the incremental maximum flow.

Fewer stations: close one station (its excess moved along residual paths, what cannot move is
lost), then repair with 1-for-1 swaps (open a site, close another) while each lowers what is
missing: communities that need a station in reach and have none, then units not served. The
closing stays when nothing is missing; else the plan is put back as it was. Two closings and one
opening (a 2-for-1 swap) are the shortest such repair; longer ones reach further.

Shorter walks: a new station's aides move to a closed site that shares a community with it when
the flow keeps its value, every community that needs a station keeps one, and the walk of the
greedy assignment within capacity falls (the caller keeps the swaps only when the least-walk
assignment agrees).

The flow after a site closes is again a maximum one (the excess that no residual path can take
is sent back to the source), and opening a site augments from the source until no path is left,
so every step is exact: a plan kept here serves what the plan before it served.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace

import numpy as np
import scipy.sparse as sp

from quarterhour.routing import stopping
from quarterhour.routing.jit import kernel
from quarterhour.siting.capacity import (
    CapacitatedPlan,
    Capacity,
    CapacityProblem,
    FlowCheck,
    _fewest_aides,
    _push_along,
    _reroute,
    _residual_path,
)

log = logging.getLogger("quarterhour")

SWAPS_MAX_PAIRS = 100_000
"""Pairs above which a capacitated plan has no swaps: each step copies the whole flow (on the
city's 443,330 pairs 50 million elements closed nothing in 0.9 s), and the least-walk assignment
that judges walk swaps takes 3.5 s there."""
REPAIR_SWAPS = 3
"""1-for-1 swaps a closing may take to be repaired (one: a 2-for-1 swap)."""
REPAIR_OPENINGS = 6
"""Sites, by what they alone would add, whose every pairing with a closing is tried per swap."""
FEWER_WORK_PER_PAIR = 4_000
"""Flow elements (pairs, rows, sites) the search for fewer stations may visit per pair, about
0.1 s per 4,000 pairs: the same plan on any machine (a clock would make it depend on load)."""
FEWER_WORK_MOST = 50_000_000
"""Flow elements the search may visit at most, about 0.5 s, whatever the size."""


def compile_swaps() -> None:
    """Compile (or load from numba's cache) the swaps' kernels now, not at a deadline."""
    pattern = sp.csr_matrix(np.array([[True, False, True], [False, True, True]]))
    problem = CapacityProblem(
        pattern, np.array([3.0, 3.0]), np.zeros(0), np.ones(2, bool), Capacity(6), np.ones(3)
    )
    check = FlowCheck(pattern, problem.demand, 6.0)
    fewer_stations(problem, check, np.array([0, 1]), 6, work=10_000)
    shorter_walks_within(problem, np.ones(4), np.array([0, 1]), np.ones(2, np.int64), work=10_000)


def fewer_by_swaps(
    problem: CapacityProblem,
    plans: list[CapacitatedPlan],
    *,
    least: int = 0,
    work: int | None = None,
    deadline: float | None = None,
) -> CapacitatedPlan:
    """The best of ``plans`` after each has had closings repaired by swaps (fewest aides then).

    The plans (new stations that cover and serve ``D*`` at their most aides) share one work
    budget, ``work`` or else :func:`swap_work`, tried in order until one has ``least`` stations
    (a lower bound). The plan's stats say the work done (``swap_work``).
    """
    started = time.perf_counter()
    check = problem.flow_check
    best = plans[0]
    work_left = swap_work(problem) if work is None else work
    work_done = 0
    closed = swaps = 0
    for plan in plans:
        needed = round(plan.target * check.scale)
        columns, counts = fewer_stations(
            problem, check, plan.columns, needed, work=work_left, least=least, deadline=deadline
        )
        work_left -= counts["work"]
        work_done += counts["work"]
        found = plan
        if columns.size < plan.columns.size:
            aides = _fewest_aides(problem, check, columns, needed, deadline)
            found = replace(plan, columns=columns, aides=aides)
        if (found.columns.size, int(found.aides.sum())) < (
            best.columns.size,
            int(best.aides.sum()),
        ):
            best = found
        closed += counts["closed"]
        swaps += counts["repair_swaps"]
        if work_left <= 0 or best.columns.size <= least:
            break
    log.info(
        "capacitated, fewer by swaps: %s new stations, %s aides (%s closed, %s swaps) in %.3f s",
        f"{best.columns.size:,}",
        f"{int(best.aides.sum()):,}",
        f"{closed:,}",
        f"{swaps:,}",
        time.perf_counter() - started,
    )
    return replace(
        best,
        stats={**best.stats, "swap_closed": closed, "swap_repairs": swaps, "swap_work": work_done},
    )


def swap_work(problem: CapacityProblem) -> int:
    """Flow elements the search for fewer stations may visit in one plan."""
    return min(FEWER_WORK_PER_PAIR * max(problem.pattern.nnz, 1), FEWER_WORK_MOST)


def fewer_stations(
    problem: CapacityProblem,
    check: FlowCheck,
    columns: np.ndarray,
    needed: int,
    *,
    work: int,
    least: int = 0,
    deadline: float | None = None,
) -> tuple[np.ndarray, dict[str, int]]:
    """New stations after closings repaired by swaps (module docstring); fewer or the same.

    Parameters
    ----------
    problem
        The communities, sites and capacities.
    check
        Its max-flow graph.
    columns
        New stations (candidate positions) that cover and serve ``needed`` units at their most
        aides.
    needed
        Units the plan serves (``D*``).
    work
        Flow elements the search may visit (a budget that does not depend on the machine).
    least
        Stations no plan can do with less (a lower bound): the search stops there.
    deadline
        ``time.perf_counter()`` time to stop by.

    Returns
    -------
    The new stations (candidate positions) and counts: stations closed, swaps, work.
    """
    n_existing = problem.n_existing
    columns = np.asarray(columns, np.int64)
    counts = {"closed": 0, "repair_swaps": 0, "work": 0}
    if columns.size == 0:
        return columns, counts
    state = check.flow_state(problem.aides_with(columns, problem.most_aides[columns]))
    if state.value < needed:
        return columns, counts
    n_sites = problem.pattern.shape[1]
    is_open = np.zeros(n_sites, np.bool_)
    is_open[:n_existing] = True
    is_open[n_existing + columns] = True
    closable = np.zeros(n_sites, np.bool_)
    closable[n_existing:] = True
    room = check.units_of(np.concatenate([problem.existing_aides, problem.most_aides]))
    must = problem.must_cover.astype(np.bool_)
    cover = np.bincount(
        state.slot_row[np.flatnonzero(is_open[state.row_sites])], minlength=must.size
    )
    cover[~must] = n_sites + 1  # only the rows that need a station can lose their last one
    work_left = work
    while work_left > 0 and np.count_nonzero(is_open[n_existing:]) > least:
        stopping.check()
        if deadline is not None and time.perf_counter() > deadline:
            break
        sites = n_existing + np.flatnonzero(is_open[n_existing:])
        order = sites[np.argsort(state.site_flow[sites], kind="stable")]
        closed, swaps, work = _close_one(
            state.graph,
            state.arrays,
            is_open,
            closable,
            cover,
            room,
            order,
            REPAIR_SWAPS,
            REPAIR_OPENINGS,
            work_left,
        )
        work_left -= work
        counts["work"] += work
        if closed < 0:
            break
        counts["closed"] += 1
        counts["repair_swaps"] += swaps
    kept = columns[is_open[n_existing + columns]]  # in the order given, the new sites after
    opened = np.setdiff1d(np.flatnonzero(is_open[n_existing:]), columns)
    return np.concatenate([kept, opened]), counts


@kernel
def _source_fill(graph: tuple[np.ndarray, ...], flow: tuple[np.ndarray, ...]) -> int:
    """Augment from the source while a residual path reaches a site with room; units gained."""
    n_nodes = flow[3].size + graph[5].size + 1
    source = n_nodes - 1
    parent = np.empty(n_nodes, np.int64)
    parent_slot = np.empty(n_nodes, np.int64)
    gained = 0
    while True:
        found = _residual_path(graph, flow, source, parent, parent_slot)
        if found < 0:
            return gained
        gained += _push_along(graph, flow, source, found, parent, parent_slot)


@kernel
def _shed(graph: tuple[np.ndarray, ...], flow: tuple[np.ndarray, ...], site: int, cap: int) -> int:
    """Lower ``site``'s capacity to ``cap``: move its excess, send back what cannot move; lost."""
    site_ptr, site_slots, slot_row = graph[2], graph[3], graph[4]
    pair_flow, served, site_flow, caps = flow
    caps[site] = cap
    if _reroute(graph, flow, site):
        return 0
    lost = 0
    for k in range(site_ptr[site], site_ptr[site + 1]):
        excess = site_flow[site] - caps[site]
        if excess <= 0:
            break
        slot = site_slots[k]
        take = min(pair_flow[slot], excess)
        pair_flow[slot] -= take
        served[slot_row[slot]] -= take
        site_flow[site] -= take
        lost += take
    return lost


@kernel
def _recount(graph: tuple[np.ndarray, ...], cover: np.ndarray, site: int, step: int) -> int:
    """Add ``step`` to the cover count of ``site``'s rows; rows left with none less rows that had none."""
    site_ptr, site_slots, slot_row = graph[2], graph[3], graph[4]
    change = 0
    for k in range(site_ptr[site], site_ptr[site + 1]):
        row = slot_row[site_slots[k]]
        before = cover[row]
        cover[row] += step
        change += int(cover[row] == 0) - int(before == 0)
    return change


@kernel
def _close_one(
    graph: tuple[np.ndarray, ...],
    flow: tuple[np.ndarray, ...],
    is_open: np.ndarray,
    closable: np.ndarray,
    cover: np.ndarray,
    room: np.ndarray,
    order: np.ndarray,
    max_swaps: int,
    openings: int,
    work_left: int,
) -> tuple[int, int, int]:
    """Close the first site of ``order`` whose loss swaps can repair: it, the swaps, the work.

    ``cover`` counts each row's open sites (rows that need none hold at least 1); ``room`` is
    each site's capacity when open. On success the arrays hold the new plan; else as given.
    """
    pair_flow, served, site_flow, caps = flow
    n_sites, n_rows = caps.size, graph[5].size
    scale = np.int64(np.sum(graph[5]) + 1)
    size = pair_flow.size + n_rows + 2 * n_sites
    parent = np.empty(n_sites + n_rows + 1, np.int64)
    parent_slot = np.empty(n_sites + n_rows + 1, np.int64)
    work = 0
    first = (pair_flow.copy(), served.copy(), site_flow.copy(), caps.copy())
    first_open, first_cover = is_open.copy(), cover.copy()
    for x in order:
        if work >= work_left:
            break
        lost = _shed(graph, flow, x, 0)
        is_open[x] = False
        missing = _recount(graph, cover, x, -1) * scale + lost
        work += size
        swaps = 0
        while missing > 0 and swaps < max_swaps and work < work_left:
            # sites that could add: some row of theirs reachable from the source, or uncovered
            _residual_path(graph, flow, n_sites + n_rows, parent, parent_slot)
            work += size
            gain = np.zeros(n_sites, np.int64)
            base = (pair_flow.copy(), served.copy(), site_flow.copy(), caps.copy())
            for b in range(n_sites):
                if is_open[b] or not closable[b] or b == x:
                    continue
                useful = False
                for k in range(graph[2][b], graph[2][b + 1]):
                    row = graph[4][graph[3][k]]
                    if parent[n_sites + row] != -2 or cover[row] == 0:
                        useful = True
                        break
                if not useful:
                    continue
                caps[b] = room[b]
                added = _source_fill(graph, flow)
                covered = _recount(graph, cover, b, 1)
                _recount(graph, cover, b, -1)
                gain[b] = -covered * scale + added
                _restore(flow, base)
                work += size
            ranked = np.argsort(-gain, kind="mergesort")[:openings]
            best, best_a, best_b = missing, -1, -1
            for b in ranked:
                if gain[b] <= 0 or work >= work_left:
                    break
                caps[b] = room[b]
                added = _source_fill(graph, flow)
                covered = _recount(graph, cover, b, 1)
                opened = (pair_flow.copy(), served.copy(), site_flow.copy(), caps.copy())
                for a in range(n_sites):
                    if not is_open[a] or not closable[a]:
                        continue
                    shed = _shed(graph, flow, a, 0)
                    uncovered = _recount(graph, cover, a, -1)
                    _recount(graph, cover, a, 1)
                    after = missing + (uncovered + covered) * scale - added + shed
                    if after < best:
                        best, best_a, best_b = after, a, b
                    _restore(flow, opened)
                    work += size
                _recount(graph, cover, b, -1)
                _restore(flow, base)
            if best_a < 0:
                break
            caps[best_b] = room[best_b]
            _source_fill(graph, flow)
            _recount(graph, cover, best_b, 1)
            _shed(graph, flow, best_a, 0)
            _recount(graph, cover, best_a, -1)
            is_open[best_b], is_open[best_a] = True, False
            missing = best
            swaps += 1
        if missing == 0:
            return x, swaps, work
        _restore(flow, first)
        is_open[:] = first_open
        cover[:] = first_cover
    return -1, 0, work


@kernel
def _restore(flow: tuple[np.ndarray, ...], saved: tuple[np.ndarray, ...]) -> None:
    """Copy a saved flow back into the arrays in place."""
    flow[0][:] = saved[0]
    flow[1][:] = saved[1]
    flow[2][:] = saved[2]
    flow[3][:] = saved[3]


def shorter_walks_within(
    problem: CapacityProblem,
    cost: np.ndarray,
    columns: np.ndarray,
    aides: np.ndarray,
    *,
    work: int,
    deadline: float | None = None,
) -> tuple[np.ndarray, dict[str, object]]:
    """1-for-1 swaps of new stations (their aides kept) that shorten the walks within capacity.

    A swap moves a new station's aides to a closed candidate that reaches one of its
    communities; it is taken when the flow still serves what the plan served (the incremental
    maximum flow: open the site, close the station, nothing lost), every community that needs a
    station still has one, and the walk of the greedy assignment within the capacities (the
    shortest pairs filled first, what stays unserved at the longest walk) falls the most. The
    caller keeps the swaps only if the least-walk assignment agrees.

    Parameters
    ----------
    problem
        The communities, sites and capacities.
    cost
        Walk cost of each pair of ``problem.pattern`` (its CSR order).
    columns, aides
        New stations (candidate positions) and their aides.
    work
        Flow elements the swaps may visit (a budget that does not depend on the machine).
    deadline
        ``time.perf_counter()`` time to stop by.

    Returns
    -------
    The new stations after the swaps (each in the place of the one it replaced) and
    ``walk_swaps``.
    """
    columns = np.asarray(columns, np.int64).copy()
    aides = np.asarray(aides, np.int64)
    stats: dict[str, object] = {"walk_swaps": 0}
    if columns.size == 0 or problem.pattern.nnz == 0:
        return columns, stats
    n_existing = problem.n_existing
    check = problem.flow_check
    state = check.flow_state(problem.aides_with(columns, aides))
    n_sites = problem.pattern.shape[1]
    is_open = np.zeros(n_sites, np.bool_)
    is_open[:n_existing] = True
    is_open[n_existing + columns] = True
    must = problem.must_cover.astype(np.bool_)
    cover = np.bincount(
        state.slot_row[np.flatnonzero(is_open[state.row_sites])], minlength=must.size
    )
    cover[~must] = n_sites + 1
    cost = np.asarray(cost, float)
    order = np.argsort(cost, kind="stable").astype(np.int64)
    penalty = float(np.max(cost, initial=0.0)) + 1.0
    walk = _greedy_walk(state.graph, state.caps, order, cost, penalty)
    most = np.concatenate([problem.existing_aides, problem.most_aides]).astype(np.int64)
    swaps, work_left = 0, work
    improved = True
    while improved and work_left > 0:
        improved = False
        for position in range(columns.size):
            stopping.check()
            if work_left <= 0 or (deadline is not None and time.perf_counter() > deadline):
                break
            site = n_existing + int(columns[position])
            may_open = ~is_open & (most >= aides[position])
            may_open[:n_existing] = False
            found, shorter, spent = _walk_swap(
                state.graph, state.arrays, cover, may_open, site, order, cost, penalty, walk
            )
            work_left -= spent
            if found >= 0:
                is_open[site], is_open[found] = False, True
                columns[position] = found - n_existing
                walk = shorter
                swaps += 1
                improved = True
    stats["walk_swaps"] = swaps
    log.info("capacitated, shorter walks: %s swaps (greedy walk %.1f)", f"{swaps:,}", walk)
    return columns, stats


@kernel
def _greedy_walk(
    graph: tuple[np.ndarray, ...],
    caps: np.ndarray,
    order: np.ndarray,
    cost: np.ndarray,
    penalty: float,
) -> float:
    """The walk of the greedy assignment within ``caps``: shortest pairs first, the rest at ``penalty``."""
    row_sites, slot_row, units = graph[1], graph[4], graph[5]
    left = units.copy()
    room = caps.copy()
    walk = 0.0
    for slot in order:
        row, site = slot_row[slot], row_sites[slot]
        amount = min(left[row], room[site])
        if amount > 0:
            walk += amount * cost[slot]
            left[row] -= amount
            room[site] -= amount
    return float(walk + penalty * np.sum(left))


@kernel
def _walk_swap(
    graph: tuple[np.ndarray, ...],
    flow: tuple[np.ndarray, ...],
    cover: np.ndarray,
    may_open: np.ndarray,
    site: int,
    order: np.ndarray,
    cost: np.ndarray,
    penalty: float,
    walk: float,
) -> tuple[int, float, int]:
    """The first site, nearest ``site``'s served residents first, to take its capacity; or -1.

    Sites sharing a community with ``site`` are tried by the walk from ``site``'s residents
    to them (``penalty`` where out of reach); the first whose swap keeps the flow and the cover
    and shortens the greedy walk is made. Returns the site, the greedy walk after, the work.
    """
    row_ptr, row_sites, site_ptr, site_slots, slot_row = (
        graph[0],
        graph[1],
        graph[2],
        graph[3],
        graph[4],
    )
    pair_flow, served, site_flow, caps = flow
    size = pair_flow.size + served.size + 2 * caps.size
    near = np.zeros(caps.size)
    seen = np.zeros(caps.size, np.bool_)
    neighbours = 0
    for k in range(site_ptr[site], site_ptr[site + 1]):
        mine = site_slots[k]
        if pair_flow[mine] == 0:
            continue
        row = slot_row[mine]
        for slot in range(row_ptr[row], row_ptr[row + 1]):
            other = row_sites[slot]
            if may_open[other]:
                near[other] += pair_flow[mine] * (cost[slot] - penalty)
                if not seen[other]:
                    seen[other] = True
                    neighbours += 1
    work = size + neighbours
    tried = np.flatnonzero(seen)
    tried = tried[np.argsort(near[tried], kind="mergesort")]
    base = (pair_flow.copy(), served.copy(), site_flow.copy(), caps.copy())
    cap = caps[site]
    enough = walk * (1.0 - 1e-9) - 1e-9
    for found in tried:
        other = int(found)
        work += size + order.size
        caps[other] = cap
        _source_fill(graph, flow)
        if _shed(graph, flow, site, 0) == 0:
            _recount(graph, cover, other, 1)
            uncovered = _recount(graph, cover, site, -1)
            if uncovered <= 0:
                after = _greedy_walk(graph, caps, order, cost, penalty)
                if after < enough:
                    return other, after, work
            _recount(graph, cover, site, 1)
            _recount(graph, cover, other, -1)
        _restore(flow, base)
    return -1, walk, work
