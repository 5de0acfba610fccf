"""Stations with room for so many residents: capacities, the assignment within them, capacitated siting.

A station with ``a`` aides serves at most ``a * residents_per_aide`` residents (its capacity).
A community's demand (its weight) may be split between stations: the assignment is then a
transportation problem, solved exactly as a least-cost maximum flow (:mod:`.transport`), its
flow a vertex (few split communities: fewer than the stations of each connected part), and it is
how a station's aides share out a large compound's job seekers with a neighbouring station's in
practice. Without splitting, even the assignment alone
would be a bin-packing problem, and a 12,000-resident compound next to two 10,000-resident
stations would count as unserved although the two stations can serve it together.

Capacitated minimum cover (CLSCP-SO, as spopt's ``LSCP`` with ``facility_capacity_arr``; ``i``
communities with demand ``w_i``, ``j`` sites, ``N_i`` sites within the limit, ``r`` residents
per aide, existing station ``j`` with ``a_j`` aides)::

    min  sum_{j new} x_j  (then the fewest aides, sum_{j new} y_j)
    s.t. sum_{j in N_i} f_ij <= w_i                     every community i
         sum_i f_ij <= r a_j                            existing j
         sum_i f_ij <= r y_j,  f_ij <= w_i x_j            new j
         aides_new x_j <= y_j <= max_aides x_j,  y_j integer,  x_j in {0, 1}
         sum_ij f_ij >= D*                              the most demand any plan serves
         sum_{j in N_i} x_j >= 1                        every coverable community not reached
                                                        by an existing station
         f_ij >= 0

``D*`` is what every site open at ``max_aides`` serves (a community farther than the limit from
enough room stays partly ``over_capacity`` in any plan). With a budget ``N``: at most ``N`` new
stations, maximise ``sum f_ij`` (coverage rows dropped).
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp
from scipy.optimize import (
    Bounds,
    LinearConstraint,
    OptimizeResult,
    OptimizeWarning,
    linprog,
    milp,
)
from scipy.sparse.csgraph import maximum_flow

try:  # HiGHS' own API as SciPy bundles it (SciPy 1.15 on), for an LP solved on from a basis
    from scipy.optimize._highspy import _core as highs_api  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - older SciPy: linprog's primal simplex instead
    highs_api = None

from quarterhour.geo.errors import InputError
from quarterhour.routing import stopping
from quarterhour.routing.jit import kernel
from quarterhour.siting.bounds import KILL_GRACE_S, solve_within
from quarterhour.siting.transport import least_cost_max_flow

if TYPE_CHECKING:
    from quarterhour.geo.points import PointSet

log = logging.getLogger("quarterhour")

SERVED_TOLERANCE = 1e-6
"""Share of the largest capacity or demand left unserved that still counts as served."""

MAX_FLOW_UNITS = 1_000_000_000
"""Total demand, in whole flow units, the integral max-flow checks may hold (int32 room)."""


MOST_RESIDENTS_PER_AIDE = 1e12
"""More residents per aide than people on Earth is a typing error, and overflows capacities."""

MOST_AIDES_COUNTED = 1e9
"""Aides a station may be counted as needing; more means residents per aide is mistyped."""


@dataclass(frozen=True)
class Capacity:
    """What stations can serve: aides times residents per aide.

    Attributes
    ----------
    residents_per_aide
        Residents (or whatever the weight counts) one aide serves; no default, it is policy.
    aides_new
        Aides a new station opens with.
    max_aides
        Aides a new station may have at most (``aides_new`` when not given).
    """

    residents_per_aide: float
    aides_new: int = 1
    max_aides: int | None = None

    def __post_init__(self) -> None:
        rate = self.residents_per_aide
        if isinstance(rate, bool) or not isinstance(rate, (int, float, np.number)):
            msg = f"must be a positive number, not {rate!r}"
            raise InputError(msg, param="residents_per_aide")
        if not (math.isfinite(float(rate)) and 0 < rate <= MOST_RESIDENTS_PER_AIDE):
            msg = f"must be a positive number up to {MOST_RESIDENTS_PER_AIDE:,.0f}, not {rate!r}"
            raise InputError(msg, param="residents_per_aide")
        for name in ("aides_new", "max_aides"):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or int(value) != value or value < 1:
                msg = f"must be a whole number of at least 1, not {value!r}"
                raise InputError(msg, param=name)
        if self.max_aides is not None and self.max_aides < self.aides_new:
            msg = (
                f"must be at least the aides a new station opens with ({self.aides_new}), "
                f"not {self.max_aides}"
            )
            raise InputError(msg, param="max_aides")

    @property
    def most_aides(self) -> int:
        """Aides a new station may have at most."""
        return int(self.aides_new if self.max_aides is None else self.max_aides)

    def needed(self, demand: np.ndarray) -> np.ndarray:
        """Aides a station needs for ``demand``: ``max(1, ceil(demand / residents_per_aide))``."""
        share = np.asarray(demand, float) / float(self.residents_per_aide)
        most = float(np.max(share, initial=0.0))
        if not most <= MOST_AIDES_COUNTED:
            msg = (
                f"is too small ({self.residents_per_aide!r}): a station serving "
                f"{float(np.max(demand)):,.0f} would need more than {MOST_AIDES_COUNTED:,.0f} "
                "aides; give the residents one aide serves"
            )
            raise InputError(msg, param="residents_per_aide")
        return np.maximum(1, np.ceil(share - SERVED_TOLERANCE)).astype(np.int64)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready parameters."""
        return {
            "residents_per_aide": float(self.residents_per_aide),
            "aides_new": int(self.aides_new),
            "max_aides": self.most_aides,
        }


def aides_of(
    values: np.ndarray | None,
    n: int,
    *,
    source: str = "stations",
    rows: np.ndarray | None = None,
) -> np.ndarray:
    """Existing stations' aides from a column's values (missing or empty: 1).

    ``rows`` numbers the values as their file does (a sheet's rows); else data rows from 1.

    Raises
    ------
    InputError
        Naming the rows whose aides are not a whole number of at least 0.
    """
    if values is None:
        return np.ones(n)
    text = np.asarray([str(value).strip() for value in values], dtype=object)
    empty = np.isin(text, ["", "nan", "None", "<NA>"])
    numbers = np.ones(n)
    bad = []
    for row in np.flatnonzero(~empty):
        try:
            number = float(text[row])
        except ValueError:
            bad.append(row)
            continue
        if not math.isfinite(number) or number < 0 or number != round(number):
            bad.append(row)
        numbers[row] = number
    if bad:
        label = (lambda row: str(row + 1)) if rows is None else (lambda row: str(rows[row]))
        named = ", ".join(map(label, bad[:5])) + (" ..." if len(bad) > 5 else "")
        where = "data rows" if rows is None else "rows"
        msg = (
            f"{source}: {where} {named}: aides must be a whole number of at least 0, "
            f"not {text[bad[0]]!r}"
        )
        raise InputError(msg, param="aides")
    return numbers


AIDES_IN_WEIGHT: tuple[str, ...] = ("人数",)
"""Headers read as a community's weight that, in a file of stations, count its aides."""


def station_aides(points: PointSet) -> np.ndarray:
    """Existing stations' aides from their ``aides`` column (or a 人数 column; else 1 each)."""
    values = points.field("aides")
    weight_column = str(points.columns.get("weight", "")).strip()
    if values is None and weight_column in AIDES_IN_WEIGHT:
        values = points.field("weight")
    return aides_of(values, len(points), source=points.source, rows=points.rows)


# ---------------------------------------------------------------------- the assignment (flow)


@dataclass(frozen=True)
class Assignment:
    """Demand assigned to stations within their capacities, the least weighted walk.

    Attributes
    ----------
    flow
        Residents of community ``i`` served by station ``j`` (rows x station columns, CSR).
    served
        Per community, residents served.
    unserved
        Per community, residents left unserved (within reach, but every station is full).
    station_served
        Per station, residents served.
    walk
        Total weighted walk cost (flow x cost).
    tolerance
        Residents left unserved that still count as served (a millionth of the largest demand
        or capacity).
    optimal
        False where the time limit cut the flow short and the greedy assignment stands in.
    """

    flow: sp.csr_matrix
    served: np.ndarray
    unserved: np.ndarray
    station_served: np.ndarray
    walk: float
    tolerance: float = 0.0
    optimal: bool = True


def _pair_matrices(cost: sp.csr_matrix) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Row sums and column sums of one variable per stored pair."""
    nnz = cost.nnz
    rows = sp.csr_matrix((np.ones(nnz), np.arange(nnz), cost.indptr), shape=(cost.shape[0], nnz))
    cols = sp.csr_matrix((np.ones(nnz), (cost.indices, np.arange(nnz))), shape=(cost.shape[1], nnz))
    return rows, cols


def assign_within(
    cost: sp.csr_matrix,
    demand: np.ndarray,
    capacity: np.ndarray,
    *,
    deadline: float | None = None,
) -> Assignment:
    """Serve the most demand within capacities, then with the least weighted walk.

    Exact: a minimum-cost maximum flow (:func:`~quarterhour.siting.transport.least_cost_max_flow`).

    Parameters
    ----------
    cost
        Walk cost of the pairs within the limit, communities x stations (CSR).
    demand
        Residents per community (non-negative).
    capacity
        Residents per station.
    deadline
        ``time.perf_counter()`` time by which to answer: a flow not found by then gives way to
        the greedy assignment by walk time (``Assignment.optimal`` False; a request's time
        limit holds).
    """
    cost = sp.csr_matrix(cost)
    cost.sort_indices()
    demand = np.asarray(demand, float)
    capacity = np.asarray(capacity, float)
    if cost.nnz == 0:
        return _assignment(cost, demand, capacity, np.zeros(0), optimal=True)
    values, optimal = least_cost_max_flow(cost, demand, capacity, deadline=deadline)
    if not optimal:
        log.warning(
            "capacitated assignment of %d pairs: the time limit came first; greedy by walk time",
            cost.nnz,
        )
        values = _greedy_flow(cost, demand, capacity)
    return _assignment(cost, demand, capacity, values, optimal=optimal)


def _assignment(
    cost: sp.csr_matrix,
    demand: np.ndarray,
    capacity: np.ndarray,
    values: np.ndarray,
    *,
    optimal: bool,
) -> Assignment:
    """The assignment that sends ``values`` along the stored pairs of ``cost``.

    A community served within the tolerance is served whole (its shares scaled to its demand).
    """
    n_rows = cost.shape[0]
    values = np.maximum(values, 0.0)
    unit = max(float(np.max(capacity, initial=0.0)), float(np.max(demand, initial=0.0)), 1.0)
    row_of = np.repeat(np.arange(n_rows), np.diff(cost.indptr))
    got = np.bincount(row_of, weights=values, minlength=n_rows)
    whole = (demand - got <= SERVED_TOLERANCE * unit) & (got > 0)
    values *= np.where(whole, demand / np.where(got > 0, got, 1.0), 1.0)[row_of]
    flow = sp.csr_matrix((values, cost.indices, cost.indptr), shape=cost.shape)
    served = np.asarray(flow.sum(axis=1)).ravel()
    station_served = np.asarray(flow.sum(axis=0)).ravel()
    unserved = np.maximum(demand - served, 0.0)
    return Assignment(
        flow,
        served,
        unserved,
        station_served,
        float(values @ cost.data),
        SERVED_TOLERANCE * unit,
        optimal=optimal,
    )


def _greedy_flow(cost: sp.csr_matrix, demand: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """Per stored pair, what a greedy assignment sends: the shortest walks filled first."""
    rows = np.repeat(np.arange(cost.shape[0]), np.diff(cost.indptr))
    order = np.argsort(cost.data, kind="stable")
    flow = np.zeros(cost.nnz)
    flow[order] = _fill_in_order(rows[order], cost.indices[order], demand.copy(), capacity.copy())
    return flow


def compile_greedy_flow() -> None:
    """Compile (or load) the assignment's kernels now, not at a deadline: greedy, and the flow.

    The flow's are compiled at install; a tiny instance where they are not, every kernel of it.
    """
    _fill_in_order(np.zeros(0, np.int64), np.zeros(0, np.int32), np.zeros(0), np.zeros(0))
    two_for_one = sp.csr_matrix(np.array([[2.0, 0.0], [1.0, 1.0]]))  # with a short side
    least_cost_max_flow(two_for_one, np.array([1.0, 2.0]), np.array([1.0, 1.0]))


@kernel
def _fill_in_order(
    rows: np.ndarray, cols: np.ndarray, left: np.ndarray, room: np.ndarray
) -> np.ndarray:
    sent = np.zeros(rows.size)
    for k in range(rows.size):
        amount = min(left[rows[k]], room[cols[k]])
        if amount > 0:
            sent[k] = amount
            left[rows[k]] -= amount
            room[cols[k]] -= amount
    return sent


@kernel
def _reroute(graph: tuple[np.ndarray, ...], flow: tuple[np.ndarray, ...], site: int) -> bool:
    """Move a site's flow above its capacity to other sites along residual paths, value kept.

    ``graph``: rows' sites (pointers, sites), sites' pair slots (pointers, slots), each slot's
    row, each row's units; ``flow``: per pair, per row, per site, each site's capacity. The flow
    must be a maximum one; paths may pass through the source (one community served less, another
    more). False (the arrays then half changed) when the value cannot be kept.
    """
    site_flow, cap = flow[2], flow[3]
    n_nodes = cap.size + graph[5].size + 1
    parent = np.empty(n_nodes, np.int64)
    parent_slot = np.empty(n_nodes, np.int64)
    while site_flow[site] > cap[site]:
        found = _residual_path(graph, flow, site, parent, parent_slot)
        if found < 0:
            return False
        _push_along(graph, flow, site, found, parent, parent_slot)
    return True


@kernel
def _residual_path(
    graph: tuple[np.ndarray, ...],
    flow: tuple[np.ndarray, ...],
    site: int,
    parent: np.ndarray,
    parent_slot: np.ndarray,
) -> int:
    """Breadth-first from ``site`` (or the source) to a site with room: its index, or -1.

    Nodes are sites, rows, the source; ``parent`` and ``parent_slot`` (the pair used) trace the
    path back.
    """
    row_ptr, row_sites, site_ptr, site_slots, slot_row, units = graph
    pair_flow, served, site_flow, cap = flow
    n_sites, n_rows = cap.size, units.size
    source = n_sites + n_rows
    queue = np.empty(source + 1, np.int64)
    parent[:] = -2
    parent[site] = -1
    queue[0], head, tail = site, 0, 1
    while head < tail:
        node = queue[head]
        head += 1
        if node < n_sites:  # back along a pair's flow to its community
            for k in range(site_ptr[node], site_ptr[node + 1]):
                slot = site_slots[k]
                row = n_sites + slot_row[slot]
                if pair_flow[slot] > 0 and parent[row] == -2:
                    parent[row], parent_slot[row] = node, slot
                    queue[tail] = row
                    tail += 1
        elif node < source:  # on to another site, or back to the source
            row = node - n_sites
            for slot in range(row_ptr[row], row_ptr[row + 1]):
                other = row_sites[slot]
                if parent[other] == -2:
                    parent[other], parent_slot[other] = node, slot
                    if site_flow[other] < cap[other]:
                        return int(other)
                    queue[tail] = other
                    tail += 1
            if served[row] > 0 and parent[source] == -2:
                parent[source] = node
                queue[tail] = source
                tail += 1
        else:  # out to a community not fully served
            for row in range(n_rows):
                if served[row] < units[row] and parent[n_sites + row] == -2:
                    parent[n_sites + row] = source
                    queue[tail] = n_sites + row
                    tail += 1
    return -1


@kernel
def _push_along(
    graph: tuple[np.ndarray, ...],
    flow: tuple[np.ndarray, ...],
    site: int,
    found: int,
    parent: np.ndarray,
    parent_slot: np.ndarray,
) -> int:
    """Send what the path from ``site`` to ``found`` can carry (at most the excess); the amount.

    ``site`` may be the source (``n_sites + n_rows``): the path then serves more.
    """
    units = graph[5]
    pair_flow, served, site_flow, cap = flow
    n_sites = cap.size
    source = n_sites + units.size
    amount = cap[found] - site_flow[found]
    if site < n_sites:
        amount = min(amount, site_flow[site] - cap[site])
    node = found
    while node != site:
        above = parent[node]
        if node < n_sites:
            room = units[above - n_sites] - pair_flow[parent_slot[node]]
        elif node == source:
            room = served[above - n_sites]
        elif above == source:
            room = units[node - n_sites] - served[node - n_sites]
        else:
            room = pair_flow[parent_slot[node]]
        amount = min(amount, room)
        node = above
    node = found
    while node != site:
        above = parent[node]
        if node < n_sites:
            pair_flow[parent_slot[node]] += amount
        elif node == source:
            served[above - n_sites] -= amount
        elif above == source:
            served[node - n_sites] += amount
        else:
            pair_flow[parent_slot[node]] -= amount
        node = above
    site_flow[found] += amount
    if site < n_sites:
        site_flow[site] -= amount
    return int(amount)


def fully_served(assignment: Assignment) -> np.ndarray:
    """Communities with nothing left unserved (within the assignment's tolerance)."""
    return assignment.unserved <= assignment.tolerance


# ---------------------------------------------------------------------- max-flow checks


class FlowCheck:
    """How much demand a set of stations serves: integral max flow on a fixed graph.

    Source -> communities (their demand) -> sites in reach -> sink (each site's capacity);
    closing a site sets its capacity to 0. Demands are rounded up and capacities down to whole
    units, so a plan that serves the whole target here serves it in residents too.
    """

    def __init__(
        self, pattern: sp.csr_matrix, demand: np.ndarray, residents_per_aide: float
    ) -> None:
        pattern = sp.csr_matrix(pattern)
        n_rows, n_cols = pattern.shape
        demand = np.asarray(demand, float)
        integral = np.all(demand == np.round(demand)) and float(residents_per_aide).is_integer()
        scale = 1.0 if integral else 1000.0
        total = float(demand.sum()) * scale
        if total > MAX_FLOW_UNITS:
            scale *= MAX_FLOW_UNITS / total
        self.scale = scale
        self.rate = float(residents_per_aide)
        self.n_rows, self.n_cols = n_rows, n_cols
        self.units = np.ceil(demand * scale - 1e-9).astype(np.int64)
        source, sink = 0, n_rows + n_cols + 1
        coo = pattern.tocoo()
        tails = np.concatenate(
            [np.full(n_rows, source), 1 + coo.row, 1 + n_rows + np.arange(n_cols)]
        )
        heads = np.concatenate([1 + np.arange(n_rows), 1 + n_rows + coo.col, np.full(n_cols, sink)])
        data = np.concatenate([self.units, self.units[coo.row], np.zeros(n_cols, np.int64)]).astype(
            np.int32
        )
        size = n_rows + n_cols + 2
        graph = sp.csr_matrix((data, (tails, heads)), shape=(size, size))
        graph.sort_indices()
        self.graph = graph
        # where each site's edge to the sink sits in the CSR data: its row's last (the sink is
        # the highest node)
        self.sink_slot = graph.indptr[2 + n_rows : 2 + n_rows + n_cols].astype(np.int64) - 1
        self.pattern = pattern.astype(bool).tocsr()
        self.pattern.sort_indices()
        self.row_slot = graph.indptr[0] + np.arange(n_rows)  # source's edges, in row order
        self.sink = sink

    def run(self, aides: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
        """Max flow with ``aides`` per site (0 = closed): units served, per row, per site."""
        self.graph.data[self.sink_slot] = self.units_of(aides).astype(np.int32)
        outcome = maximum_flow(self.graph, 0, self.sink, method="dinic")  # type: ignore[arg-type]  # scipy-stubs say csr_array; SciPy takes a csr_matrix too
        flow = outcome.flow  # antisymmetric: the sink's row holds minus what reaches it
        per_row = flow[0].toarray().ravel()[1 : 1 + self.n_rows]
        per_site = -flow[self.sink].toarray().ravel()[1 + self.n_rows : self.sink]
        return int(outcome.flow_value), per_row, per_site

    def units_of(self, aides: np.ndarray) -> np.ndarray:
        """Each site's capacity in whole units with ``aides``."""
        return np.floor(np.asarray(aides, float) * self.rate * self.scale + 1e-9).astype(np.int64)

    def flow_state(self, aides: np.ndarray) -> FlowState:
        """A maximum flow with ``aides`` per site, kept to be changed one site at a time."""
        caps = self.units_of(aides)
        self.graph.data[self.sink_slot] = caps.astype(np.int32)
        outcome = maximum_flow(self.graph, 0, self.sink, method="dinic")  # type: ignore[arg-type]  # as in run
        flow = outcome.flow.tocsr()
        rows = np.repeat(np.arange(self.n_rows), np.diff(self.pattern.indptr))
        pair_flow = np.zeros(rows.size, np.int64)
        if rows.size:  # SciPy answers an empty selection with a sparse matrix, not an array
            pair_flow[:] = np.asarray(
                flow[1 + rows, 1 + self.n_rows + self.pattern.indices], dtype=np.int64
            ).ravel()
        return FlowState(self, pair_flow, caps)


class FlowState:
    """A maximum flow on a :class:`FlowCheck`'s graph, per pair, lowered one site at a time.

    Lowering a site's capacity moves its excess along residual paths (numba), so a check costs
    a search from that site rather than a maximum flow from scratch; the value is kept exactly
    or the lowering refused (and undone).
    """

    def __init__(self, check: FlowCheck, pair_flow: np.ndarray, caps: np.ndarray) -> None:
        pattern = check.pattern
        self.check = check
        self.row_ptr = pattern.indptr.astype(np.int64)
        self.row_sites = pattern.indices.astype(np.int64)
        self.slot_row = np.repeat(np.arange(check.n_rows), np.diff(pattern.indptr)).astype(np.int64)
        self.site_slots = np.argsort(self.row_sites, kind="stable").astype(np.int64)
        self.site_ptr = np.zeros(check.n_cols + 1, np.int64)
        self.site_ptr[1:] = np.cumsum(np.bincount(self.row_sites, minlength=check.n_cols))
        self.pair_flow = pair_flow
        self.served = np.bincount(self.slot_row, weights=pair_flow, minlength=check.n_rows).astype(
            np.int64
        )
        self.site_flow = np.bincount(
            self.row_sites, weights=pair_flow, minlength=check.n_cols
        ).astype(np.int64)
        self.caps = caps.astype(np.int64)
        self.units = check.units.astype(np.int64)

    @property
    def graph(self) -> tuple[np.ndarray, ...]:
        """The kernels' graph: rows' sites (pointers, sites), sites' slots, slots' rows, units."""
        return (
            self.row_ptr,
            self.row_sites,
            self.site_ptr,
            self.site_slots,
            self.slot_row,
            self.units,
        )

    @property
    def arrays(self) -> tuple[np.ndarray, ...]:
        """The kernels' flow: per pair, per row, per site, and each site's capacity."""
        return (self.pair_flow, self.served, self.site_flow, self.caps)

    @property
    def value(self) -> int:
        """Units served."""
        return int(self.served.sum())

    def lower(self, site: int, cap: int) -> bool:
        """Set ``site``'s capacity to ``cap`` units if the flow's value can stay; else no change."""
        if cap >= self.site_flow[site]:
            self.caps[site] = cap
            return True
        saved = (self.pair_flow.copy(), self.served.copy(), self.site_flow.copy(), self.caps[site])
        self.caps[site] = cap
        if _reroute(self.graph, self.arrays, site):
            return True
        self.pair_flow, self.served, self.site_flow, self.caps[site] = saved
        return False


# ---------------------------------------------------------------------- capacitated siting


@dataclass
class CapacitatedPlan:
    """New stations and their aides, how they were found and the bound.

    Attributes
    ----------
    columns
        New stations, as positions among the candidate sites, in pick order.
    aides
        Aides of each new station.
    target
        Residents that the best plan serves (``D*``; with a budget, what this plan serves).
    bound
        Lower bound on new stations (minimum cover) or upper bound on residents served (budget).
    stats
        Counts of flow checks, LP and HiGHS details.
    """

    columns: np.ndarray
    aides: np.ndarray
    target: float
    bound: float
    method: str = "heuristic"
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CapacityProblem:
    """Communities in reach x sites (existing first), their demand and the sites' aides.

    Attributes
    ----------
    pattern
        Boolean coverage, coverable communities x (existing stations, then candidate sites).
    demand
        Residents per community.
    existing_aides
        Aides of each existing station.
    must_cover
        Communities no existing station reaches (a plan covers each, even of zero demand).
    capacity
        The capacity parameters.
    most_aides
        Per candidate site, the most aides it may have (``capacity.max_aides`` unless a site
        says otherwise, as ArcGIS's per-facility capacity).
    """

    pattern: sp.csr_matrix
    demand: np.ndarray
    existing_aides: np.ndarray
    must_cover: np.ndarray
    capacity: Capacity
    most_aides: np.ndarray

    @cached_property
    def flow_check(self) -> FlowCheck:
        """Its max-flow graph (made once: the searches share it, one run at a time)."""
        return FlowCheck(self.pattern, self.demand, self.capacity.residents_per_aide)

    @cached_property
    def most_units(self) -> int:
        """Flow units served with every candidate open at its most aides (``D*``, made once)."""
        every = np.arange(self.n_candidates)
        value, _, _ = self.flow_check.run(self.aides_with(every, self.most_aides[every]))
        return value

    @property
    def least_aides(self) -> np.ndarray:
        """Per candidate site, the aides it opens with."""
        least: np.ndarray = np.minimum(self.capacity.aides_new, self.most_aides)
        return least

    @property
    def n_existing(self) -> int:
        """How many columns are existing stations."""
        return int(self.existing_aides.size)

    @property
    def n_candidates(self) -> int:
        """How many columns are candidate sites."""
        return self.pattern.shape[1] - self.n_existing

    def aides_with(self, columns: np.ndarray, aides: np.ndarray | int) -> np.ndarray:
        """Aides per column: existing ones, and ``aides`` at the candidate ``columns``."""
        full = np.zeros(self.pattern.shape[1])
        full[: self.n_existing] = self.existing_aides
        full[self.n_existing + np.asarray(columns, np.int64)] = aides
        return full


def capacitated_plan(
    problem: CapacityProblem,
    start: np.ndarray,
    *,
    budget: int | None = None,
    deadline: float | None = None,
) -> CapacitatedPlan:
    """Fewest new stations (then aides) serving the most demand; or the most with ``budget``.

    Greedy additions where unserved demand is (each checked by max flow), then drops of stations
    the rest can do without, then each station's aides lowered while the flow still serves the
    target.

    Parameters
    ----------
    problem
        The communities, sites and capacities.
    start
        Candidate positions to start from (an uncapacitated cover; empty with a budget).
    budget
        At most this many new stations, serving the most demand.
    deadline
        ``time.perf_counter()`` time to stop improving by (additions always complete the plan).
    """
    started = time.perf_counter()
    check = problem.flow_check
    opening = _Opening(problem, check)
    target = problem.most_units
    chosen = [int(col) for col in start] if budget is None else []
    limit = problem.n_candidates if budget is None else min(budget, problem.n_candidates)
    value, per_site = _add_greedily(opening, chosen, target, limit, deadline)
    needed = target if budget is None else value
    dropped = 0
    if budget is None:
        chosen, dropped = _drop(opening, chosen, per_site, needed, deadline)
    checks = opening.checks
    columns = np.asarray(chosen, np.int64)
    aides = _fewest_aides(problem, check, columns, needed, deadline)
    seconds = time.perf_counter() - started
    log.info(
        "capacitated: %s new stations, %s aides, %s of %s units served (%s flow checks, %s "
        "dropped) in %.3f s",
        f"{columns.size:,}",
        f"{int(aides.sum()):,}",
        f"{needed:,}",
        f"{target:,}",
        f"{checks:,}",
        f"{dropped:,}",
        seconds,
    )
    return CapacitatedPlan(
        columns,
        aides,
        target=needed / check.scale,
        bound=math.nan,
        stats={"flow_checks": checks, "dropped": dropped, "served_best": target / check.scale},
    )


def most_served(problem: CapacityProblem) -> float:
    """Residents served with every candidate site open at its most aides (``D*``)."""
    return problem.most_units / problem.flow_check.scale


class _Opening:
    """Max-flow checks of sets of open candidates (each at its most aides), counted."""

    def __init__(self, problem: CapacityProblem, check: FlowCheck) -> None:
        self.problem = problem
        self.check = check
        self.checks = 0

    def served(self, columns: list[int]) -> tuple[int, np.ndarray, np.ndarray]:
        """Units served, per row, per site with the candidate ``columns`` open."""
        self.checks += 1
        positions = np.asarray(columns, np.int64)
        most = self.problem.most_aides[positions]
        return self.check.run(self.problem.aides_with(positions, most))


def _add_greedily(
    opening: _Opening, chosen: list[int], target: int, limit: int, deadline: float | None = None
) -> tuple[int, np.ndarray]:
    """Open (in ``chosen``) the site with the most unserved demand in reach, up to its room.

    Past ``deadline`` every site with unserved demand in reach opens at once (up to ``limit``,
    the best first), so that the plan is still complete, one flow check later.
    """
    problem, check = opening.problem, opening.check
    value, per_row, per_site = opening.served(chosen)
    room = problem.most_aides * check.rate * check.scale
    is_open = np.zeros(problem.n_candidates, bool)
    is_open[chosen] = True
    reach_of = problem.pattern[:, problem.n_existing :].T.tocsr()
    while value < target and len(chosen) < limit:
        stopping.check()
        unserved = (check.units - per_row).astype(float)
        score = np.minimum(np.asarray(reach_of @ unserved).ravel(), room)
        score[is_open] = -1.0
        if deadline is not None and time.perf_counter() > deadline:
            ranked = np.argsort(-score, kind="stable")[: limit - len(chosen)]
            picks = [int(site) for site in ranked if score[site] > 0]
        else:
            picks = _apart(reach_of, unserved > 0, score, limit - len(chosen))
        if not picks:
            break
        chosen.extend(picks)
        is_open[picks] = True
        value, per_row, per_site = opening.served(chosen)
    return value, per_site


def _apart(
    reach_of: sp.csr_matrix, unserved: np.ndarray, score: np.ndarray, most: int
) -> list[int]:
    """The best sites by ``score``, down to the first that shares an unserved community.

    What one-at-a-time greedy additions would open (a site's score changes only when one of its
    communities is served), for one flow check instead of one each.
    """
    picks: list[int] = []
    taken = np.zeros(unserved.size, bool)
    for site in np.argsort(-score, kind="stable")[:most]:
        if score[site] <= 0:
            break
        rows = reach_of.indices[reach_of.indptr[site] : reach_of.indptr[site + 1]]
        rows = rows[unserved[rows]]
        if taken[rows].any():
            break
        taken[rows] = True
        picks.append(int(site))
    return picks


def _drop(
    opening: _Opening,
    chosen: list[int],
    per_site: np.ndarray,
    needed: int,
    deadline: float | None,
) -> tuple[list[int], int]:
    """Close stations, least used first, while the rest still cover and serve ``needed``."""
    problem = opening.problem
    n_existing = problem.n_existing
    by_col = problem.pattern.tocsc()
    cover_count = np.asarray(problem.pattern[:, n_existing:][:, chosen].sum(axis=1)).ravel()
    keep = np.ones(len(chosen), bool)
    dropped = 0
    positions = np.asarray(chosen, np.int64)
    state = opening.check.flow_state(problem.aides_with(positions, problem.most_aides[positions]))
    opening.checks += 1
    for k in sorted(range(len(chosen)), key=lambda k: per_site[n_existing + chosen[k]]):
        stopping.check()
        if deadline is not None and time.perf_counter() > deadline:
            break
        col = n_existing + chosen[k]
        rows = by_col.indices[by_col.indptr[col] : by_col.indptr[col + 1]]
        if np.any(problem.must_cover[rows] & (cover_count[rows] <= 1)):
            continue
        keep[k] = False
        if state.value == needed:  # a maximum flow: closing keeps it or is refused, exactly
            closes = state.lower(col, 0)
        else:
            trial, _, _ = opening.served([c for c, kept in zip(chosen, keep, strict=True) if kept])
            closes = trial >= needed
        if closes:
            cover_count[rows] -= 1
            dropped += 1
        else:
            keep[k] = True
    return [c for c, kept in zip(chosen, keep, strict=True) if kept], dropped


def rounded_plan(
    problem: CapacityProblem,
    order: np.ndarray,
    *,
    shortest: int = 0,
    longest: int | None = None,
    deadline: float | None = None,
) -> CapacitatedPlan:
    """The shortest run of ``order`` (candidates by LP value) that covers and serves ``D*``.

    Whether a run does is monotone in its length, so a binary search finds it in about
    ``log2(longest - shortest)`` flow checks; then drops and the fewest aides, as the greedy
    plan. ``shortest``: no shorter run can (the LP bound); ``longest``: a run that should (the
    LP's support, as the LP's own flow fits in it), the whole order when it does not.
    """
    started = time.perf_counter()
    check = problem.flow_check
    opening = _Opening(problem, check)
    order = np.asarray(order, np.int64)
    target = problem.most_units
    by_site = problem.pattern[:, problem.n_existing :].tocsc()
    must = np.flatnonzero(problem.must_cover)

    def serves(length: int) -> np.ndarray | None:
        columns = order[:length]
        if must.size and (by_site[must][:, columns].getnnz(axis=1) == 0).any():
            return None
        value, _, per_site = opening.served(list(columns))
        return per_site if value >= target else None

    low, high = min(max(shortest, 0), order.size), order.size
    per_site = None
    if longest is not None and low <= longest < order.size:
        per_site = serves(longest)
        high = longest if per_site is not None else order.size
    if per_site is None:
        high = order.size
        per_site = serves(high)
    while low < high:
        stopping.check()
        middle = (low + high) // 2
        found = serves(middle)
        if found is None:
            low = middle + 1
        else:
            high, per_site = middle, found
    if per_site is None:
        msg = "the whole order does not cover and serve D*: it must hold every candidate"
        raise ValueError(msg)
    chosen, dropped = _drop(opening, list(order[:high]), per_site, target, deadline)
    columns = np.asarray(chosen, np.int64)
    aides = _fewest_aides(problem, check, columns, target, deadline)
    log.info(
        "capacitated, LP rounding: %s new stations, %s aides (%s flow checks) in %.3f s",
        f"{columns.size:,}",
        f"{int(aides.sum()):,}",
        f"{opening.checks:,}",
        time.perf_counter() - started,
    )
    return CapacitatedPlan(
        columns, aides, target / check.scale, math.nan, stats={"rounding_dropped": dropped}
    )


def _fewest_aides(
    problem: CapacityProblem,
    check: FlowCheck,
    columns: np.ndarray,
    needed: int,
    deadline: float | None,
) -> np.ndarray:
    """Each new station's aides lowered one at a time while the flow still serves ``needed``.

    One maximum flow, then each lowering moves the station's excess along residual paths
    (:class:`FlowState`): exact, and a search from one site instead of a flow from scratch.
    """
    most = problem.most_aides[columns].astype(np.int64)
    least = problem.least_aides[columns].astype(np.int64)
    aides: np.ndarray = most.copy()
    if np.all(most == least) or columns.size == 0:
        return aides
    state = check.flow_state(problem.aides_with(columns, aides))
    if state.value < needed:
        return aides
    sites = problem.n_existing + columns
    flows = state.site_flow[sites] / (check.rate * check.scale)
    for k, fits in enumerate(np.clip(np.ceil(flows - 1e-9), least, most).astype(np.int64)):
        if fits < most[k] and state.lower(int(sites[k]), int(check.units_of(fits))):
            aides[k] = fits  # the flow already fits: no search (even past the deadline)
    for k in np.argsort(flows, kind="stable"):
        while aides[k] > least[k]:
            stopping.check()
            if deadline is not None and time.perf_counter() > deadline:
                return aides
            lowered = aides.copy()
            lowered[k] -= 1
            if not state.lower(int(sites[k]), int(check.units_of(lowered[k : k + 1])[0])):
                break
            aides = lowered
    return aides


def aggregate_bound(problem: CapacityProblem, target: float) -> float:
    """New stations needed at least: what existing stations cannot take, over the most room."""
    existing_room = float(problem.existing_aides.sum()) * problem.capacity.residents_per_aide
    largest = float(np.max(problem.most_aides, initial=0.0)) * problem.capacity.residents_per_aide
    if largest <= 0:
        return 0.0
    return max(target - existing_room, 0.0) / largest


# ---------------------------------------------------------------------- HiGHS: bound and exact


@dataclass(frozen=True)
class HighsOutcome:
    """What HiGHS found for the capacitated programme."""

    columns: np.ndarray | None
    aides: np.ndarray | None
    objective: float
    bound: float
    optimal: bool
    message: str
    seconds: float
    open_share: np.ndarray | None = None
    """The LP relaxation's ``x_j`` of every candidate (the relaxation only)."""


def _goal(
    problem: CapacityProblem,
    pattern: sp.csr_matrix,
    *,
    target: float,
    budget: int | None,
    integral: bool,
    nnz: int,
) -> tuple[np.ndarray, sp.csr_matrix, np.ndarray, np.ndarray]:
    """The objective and its rows: serve ``target`` and cover, or at most ``budget`` stations."""
    n_ex, n_cand = problem.n_existing, problem.n_candidates
    n_var = nnz + 2 * n_cand
    x0, y0 = nnz, nnz + n_cand
    unit = float(problem.capacity.residents_per_aide)
    ids = np.arange(n_cand)
    objective = np.zeros(n_var)
    if budget is None:
        total = sp.csr_matrix(
            (np.ones(nnz), (np.zeros(nnz, np.int64), np.arange(nnz))), shape=(1, n_var)
        )
        rows = [total]
        lower = [np.array([(target * (1 - 1e-9) - 1e-3 * problem.demand.size) / unit])]
        upper = [np.array([np.inf])]
        must = np.flatnonzero(problem.must_cover)
        cand_pattern = pattern[:, n_ex:][must]
        rows.append(
            sp.hstack(
                [sp.csr_matrix((must.size, nnz)), cand_pattern, sp.csr_matrix((must.size, n_cand))]
            )
        )
        lower.append(np.ones(must.size))
        upper.append(np.full(must.size, np.inf))
        objective[x0:y0] = 1.0
        if integral:  # then the fewest aides
            objective[y0:] = 1.0 / (float(problem.most_aides.sum()) + 1)
    else:
        budget_row = sp.csr_matrix(
            (np.ones(n_cand), (np.zeros(n_cand, np.int64), x0 + ids)), shape=(1, n_var)
        )
        rows = [budget_row]
        lower, upper = [np.array([-np.inf])], [np.array([float(budget)])]
        objective[:nnz] = -1.0
    return objective, sp.vstack(rows, format="csr"), np.concatenate(lower), np.concatenate(upper)


def _program(
    problem: CapacityProblem, *, target: float, budget: int | None, integral: bool
) -> tuple[np.ndarray, LinearConstraint, np.ndarray, np.ndarray, int]:
    """The programme's objective, constraints, upper bounds and integrality; the pair count."""
    pattern = sp.csr_matrix(problem.pattern)
    pattern.sort_indices()
    n_rows, n_cols = pattern.shape
    n_ex, n_cand = problem.n_existing, problem.n_candidates
    capacity = problem.capacity
    unit = float(capacity.residents_per_aide)
    demand = problem.demand / unit  # in aides' worth
    nnz = pattern.nnz
    n_var = nnz + 2 * n_cand
    x0, y0 = nnz, nnz + n_cand
    row_sum, col_sum = _pair_matrices(pattern)
    pad = sp.csr_matrix((n_rows, 2 * n_cand))
    blocks = [sp.hstack([row_sum, pad])]
    lower, upper = [np.full(n_rows, -np.inf)], [demand]
    # capacity: existing sum f <= a_j; new sum f - y_j <= 0
    y_part = sp.csr_matrix(
        (-np.ones(n_cand), (n_ex + np.arange(n_cand), y0 + np.arange(n_cand))),
        shape=(n_cols, n_var),
    )
    blocks.append(sp.hstack([col_sum, sp.csr_matrix((n_cols, 2 * n_cand))]) + y_part)
    lower.append(np.full(n_cols, -np.inf))
    upper.append(np.concatenate([problem.existing_aides, np.zeros(n_cand)]))
    # f_ij <= w_i x_j for new j (the strong link)
    coo = pattern.tocoo()
    new_pair = np.flatnonzero(coo.col >= n_ex)
    link = sp.csr_matrix(
        (
            np.concatenate([np.ones(new_pair.size), -demand[coo.row[new_pair]]]),
            (
                np.concatenate([np.arange(new_pair.size)] * 2),
                np.concatenate([new_pair, x0 + coo.col[new_pair] - n_ex]),
            ),
        ),
        shape=(new_pair.size, n_var),
    )
    blocks.append(link)
    lower.append(np.full(new_pair.size, -np.inf))
    upper.append(np.zeros(new_pair.size))
    # aides_new x_j <= y_j <= max_aides x_j
    ids = np.arange(n_cand)
    for factor, lowest, highest in (
        (problem.least_aides, -np.inf, 0.0),
        (problem.most_aides, 0.0, np.inf),
    ):
        blocks.append(
            sp.csr_matrix(
                (
                    np.concatenate([np.asarray(factor, float), -np.ones(n_cand)]),
                    (np.concatenate([ids, ids]), np.concatenate([x0 + ids, y0 + ids])),
                ),
                shape=(n_cand, n_var),
            )
        )
        lower.append(np.full(n_cand, lowest))
        upper.append(np.full(n_cand, highest))
    objective, goal_rows, goal_lower, goal_upper = _goal(
        problem, pattern, target=target, budget=budget, integral=integral, nnz=nnz
    )
    blocks.append(goal_rows)
    lower.append(goal_lower)
    upper.append(goal_upper)
    matrix = sp.vstack(blocks, format="csr")
    constraint = LinearConstraint(matrix, np.concatenate(lower), np.concatenate(upper))
    high = np.concatenate([np.full(nnz, np.inf), np.ones(n_cand), problem.most_aides])
    integrality = np.zeros(n_var)
    if integral:
        integrality[x0:] = 1
    return objective, constraint, high, integrality, nnz


SIMPLEX_MAX_PAIRS = 20_000
"""Pairs up to which the LP relaxation goes to HiGHS' primal simplex (a vertex: few sites partly
open, which the rounding prefers: 677 stations on 2,000 Heidelberg street points at 10 min where
the interior point's rounding gave 685; 0.08 s on 3,560 pairs where the dual simplex takes 0.12 s,
0.7 s on 13,078); above, to its interior point method without crossover (4 s on 49,378 pairs
where the primal simplex takes 14 s)."""
IN_PROCESS_MAX_PAIRS = 5_000
"""Pairs up to which the LP relaxation is solved in this process, not in a forked one: HiGHS
holds the GIL while it solves (0.03 s on 3,560 pairs: no longer than other requests to a
server may wait), and a fork of a large server costs more than that."""
PRIMAL_SIMPLEX = 4
"""HiGHS' ``simplex_strategy`` for its primal simplex."""
DUAL_SIMPLEX = 1
"""HiGHS' ``simplex_strategy`` for its dual simplex."""
IPM_MARGIN = 1e-6
"""Relative margin taken off an LP bound from HiGHS' interior point method without crossover
(its primal and dual objectives agree to 1e-8, its rows hold to 1e-7)."""


def _ipm_margin(value: float, pairs: int) -> float:
    """What an LP bound of ``value`` on ``pairs`` pairs may be off by (the simplex: nothing)."""
    return 0.0 if pairs <= SIMPLEX_MAX_PAIRS else IPM_MARGIN * (1.0 + abs(value))


def _relaxation(
    problem: CapacityProblem, *, target: float, budget: int | None
) -> tuple[np.ndarray, sp.csr_matrix, np.ndarray, np.ndarray, slice]:
    """The LP relaxation as ``min c x, A x <= b, 0 <= x <= upper``: pairs' flow, then ``x_j``.

    Also returns the rows of the strong links ``f_ij <= w_i x_j`` (a slice of ``A``'s rows).

    The aides ``y_j`` are projected out (with ``aides_new <= max_aides`` some ``y_j`` fits any
    ``x_j``, so the new stations' capacity rows read ``sum_i f_ij <= max_aides x_j``): a third
    fewer rows and every row once, as HiGHS' interior point method solves it fastest.
    """
    pattern = sp.csr_matrix(problem.pattern)
    pattern.sort_indices()
    n_rows, n_cols = pattern.shape
    n_ex, n_cand = problem.n_existing, problem.n_candidates
    unit = float(problem.capacity.residents_per_aide)
    demand = problem.demand / unit  # in aides' worth
    nnz = pattern.nnz
    n_var = nnz + n_cand
    pairs = np.arange(nnz)
    pair_row = np.repeat(np.arange(n_rows), np.diff(pattern.indptr))
    pair_col = pattern.indices.astype(np.int64)
    new = np.flatnonzero(pair_col >= n_ex)
    ids = np.arange(n_cand)
    # rows: communities, sites' capacities, the strong links f_ij <= w_i x_j, then the goal
    link_row = n_rows + n_cols + np.arange(new.size)
    heads: list[np.ndarray] = [pair_row, n_rows + pair_col, link_row, link_row, n_rows + n_ex + ids]
    tails: list[np.ndarray] = [pairs, pairs, new, nnz + pair_col[new] - n_ex, nnz + ids]
    values: list[np.ndarray] = [
        np.ones(nnz),
        np.ones(nnz),
        np.ones(new.size),
        -demand[pair_row[new]],
        -np.asarray(problem.most_aides, float),
    ]
    limits = [demand, problem.existing_aides, np.zeros(n_cand), np.zeros(new.size)]
    objective = np.zeros(n_var)
    goal_row = n_rows + n_cols + new.size
    if budget is None:
        must = np.flatnonzero(problem.must_cover)
        covers = pattern[must][:, n_ex:].tocoo()
        heads += [np.full(nnz, goal_row), goal_row + 1 + covers.row]
        tails += [pairs, nnz + covers.col]
        values += [-np.ones(nnz), -np.ones(covers.nnz)]
        least = (target * (1 - 1e-9) - 1e-3 * problem.demand.size) / unit
        limits += [np.array([-least]), -np.ones(must.size)]
        objective[nnz:] = 1.0
        n_goal = 1 + must.size
    else:
        heads.append(np.full(n_cand, goal_row))
        tails.append(nnz + ids)
        values.append(np.ones(n_cand))
        limits.append(np.array([float(budget)]))
        objective[:nnz] = -1.0
        n_goal = 1
    matrix = sp.csr_matrix(
        (np.concatenate(values), (np.concatenate(heads), np.concatenate(tails))),
        shape=(goal_row + n_goal, n_var),
    )
    upper = np.concatenate([np.full(nnz, np.inf), np.ones(n_cand)])
    links = slice(n_rows + n_cols, goal_row)
    return objective, matrix, np.concatenate(limits), upper, links


def _linprog(
    objective: np.ndarray,
    matrix: sp.csr_matrix,
    limits: np.ndarray,
    upper: np.ndarray,
    *,
    method: str,
    options: dict[str, object],
) -> OptimizeResult:
    """``min c x, A x <= b, 0 <= x <= upper`` by SciPy's HiGHS, HiGHS' own ``options`` passed on."""
    with warnings.catch_warnings():  # SciPy names HiGHS' options unknown, passes them on
        warnings.simplefilter("ignore", OptimizeWarning)
        return linprog(  # type: ignore[call-overload,no-any-return]  # scipy-stubs: no sparse A_ub
            objective,
            A_ub=matrix,
            b_ub=limits,
            bounds=np.c_[np.zeros(objective.size), upper],
            method=method,
            options=options,
        )


def _links_last_simplex(
    objective: np.ndarray,
    matrix: sp.csr_matrix,
    limits: np.ndarray,
    upper: np.ndarray,
    links: slice,
    *,
    time_limit: float,
) -> OptimizeResult | SimpleNamespace:
    """The LP relaxation by HiGHS' simplex in two steps: without the strong links, then with.

    Without the links the LP is a fifth of the rows and HiGHS' primal simplex solves it in a
    tenth of the time (0.013 s on 3,560 pairs); the links are then added and its dual simplex
    goes on from that basis, which stays dual feasible (0.033 s in all, where the primal simplex
    on the whole LP takes 0.08 s and the dual 0.12 s; 0.4 s on 13,078 pairs where they take 0.7 s
    and 3.4 s). Answers as ``linprog`` does: ``status`` (0 optimal, 1 the time limit), ``x``,
    ``fun``, ``message``; with a SciPy older than 1.15, ``linprog``'s primal simplex answers.
    """
    if highs_api is None:  # pragma: no cover - older SciPy
        options: dict[str, object] = {"time_limit": time_limit, "simplex_strategy": PRIMAL_SIMPLEX}
        return _linprog(objective, matrix, limits, upper, method="highs-ds", options=options)
    started = time.perf_counter()
    highs = highs_api._Highs()
    highs.setOptionValue("output_flag", False)  # noqa: FBT003 (HiGHS' signature)
    infinity = highs_api.kHighsInf
    n_var = objective.size
    no_entries = np.zeros(0, np.int32)
    highs.addCols(
        n_var, objective, np.zeros(n_var), np.where(np.isinf(upper), infinity, upper),
        0, no_entries, no_entries, np.zeros(0),
    )  # fmt: skip
    rows = np.arange(matrix.shape[0])
    for step, part in enumerate((np.r_[rows[: links.start], rows[links.stop :]], rows[links])):
        block = matrix[part]
        highs.addRows(
            part.size, np.full(part.size, -infinity), limits[part], block.nnz,
            block.indptr[:-1].astype(np.int32), block.indices.astype(np.int32), block.data,
        )  # fmt: skip
        left = time_limit - (time.perf_counter() - started)
        if left <= 0:
            return SimpleNamespace(status=1, x=None, fun=None, message="stopped at the time limit")
        highs.setOptionValue("time_limit", left)
        highs.setOptionValue("simplex_strategy", PRIMAL_SIMPLEX if step == 0 else DUAL_SIMPLEX)
        highs.run()
        status = highs.getModelStatus()
        if status != highs_api.HighsModelStatus.kOptimal:
            message = highs.modelStatusToString(status)
            stopped = status == highs_api.HighsModelStatus.kTimeLimit
            return SimpleNamespace(status=1 if stopped else 2, x=None, fun=None, message=message)
    x = np.asarray(highs.getSolution().col_value)
    fun = float(highs.getInfo().objective_function_value)
    return SimpleNamespace(status=0, x=x, fun=fun, message="Optimal")


def _solve_relaxation(
    objective: np.ndarray,
    matrix: sp.csr_matrix,
    limits: np.ndarray,
    upper: np.ndarray,
    links: slice,
    *,
    pairs: int,
    time_limit: float,
) -> OptimizeResult | SimpleNamespace:
    """The LP relaxation by the simplex or, above :data:`SIMPLEX_MAX_PAIRS` pairs, not.

    Up to :data:`IN_PROCESS_MAX_PAIRS` pairs the simplex runs here; else HiGHS runs in a process
    stopped at ``time_limit``.
    """

    def simplex() -> OptimizeResult | SimpleNamespace:
        return _links_last_simplex(objective, matrix, limits, upper, links, time_limit=time_limit)

    def interior_point() -> OptimizeResult:
        options: dict[str, object] = {"time_limit": time_limit, "run_crossover": "off"}
        return _linprog(objective, matrix, limits, upper, method="highs-ipm", options=options)

    if pairs <= IN_PROCESS_MAX_PAIRS:
        return simplex()
    return solve_within(simplex if pairs <= SIMPLEX_MAX_PAIRS else interior_point, time_limit)[0]


def capacitated_highs(
    problem: CapacityProblem,
    *,
    target: float,
    budget: int | None = None,
    integral: bool,
    time_limit: float,
) -> HighsOutcome:
    """The capacitated programme (module docstring) with HiGHS, or its LP relaxation.

    Parameters
    ----------
    problem
        The communities, sites and capacities.
    target
        ``D*``: residents the plan must serve (minimum cover); ignored with a budget.
    budget
        At most this many new stations, maximising the residents served.
    integral
        Integer programme (True) or LP relaxation (False).
    time_limit
        Seconds HiGHS may take.
    """
    started = time.perf_counter()
    nnz = problem.pattern.nnz
    n_cand = problem.n_candidates
    x0, y0 = nnz, nnz + n_cand
    unit = float(problem.capacity.residents_per_aide)
    if integral:
        objective, constraint, high, integrality, _ = _program(
            problem, target=target, budget=budget, integral=integral
        )
        # HiGHS stops by the time limit less the programme's building and the kill's grace
        time_limit = max(time_limit - (time.perf_counter() - started) - KILL_GRACE_S, 0.01)
        n_var = objective.size

        def solve() -> OptimizeResult:
            return milp(
                objective,
                constraints=constraint,
                bounds=Bounds(np.zeros(n_var), high),
                integrality=integrality,
                options={"time_limit": time_limit, "disp": False},
            )

        outcome, _ = solve_within(solve, time_limit)
    else:
        objective, matrix, limits, high, links = _relaxation(problem, target=target, budget=budget)
        time_limit = max(time_limit - (time.perf_counter() - started) - KILL_GRACE_S, 0.01)
        outcome = _solve_relaxation(
            objective, matrix, limits, high, links, pairs=nnz, time_limit=time_limit
        )
    seconds = time.perf_counter() - started
    optimal = outcome.status == 0
    found = outcome.x is not None
    if budget is None:
        objective_value = float(np.sum(outcome.x[x0:y0])) if found else math.nan
        dual = getattr(outcome, "mip_dual_bound", None)
        if not integral:
            bound = objective_value - _ipm_margin(objective_value, nnz) if optimal else math.nan
        else:
            # the fewest aides add less than one to the objective: take their most off the bound
            bound = (
                float(dual) - float(objective[y0:] @ high[y0:])
                if dual is not None and np.isfinite(dual)
                else math.nan
            )
    else:
        objective_value = float(np.sum(outcome.x[:nnz])) * unit if found else math.nan
        dual = getattr(outcome, "mip_dual_bound", None)
        if not integral:
            bound = objective_value + _ipm_margin(objective_value, nnz) if optimal else math.nan
        else:
            bound = -float(dual) * unit if dual is not None and np.isfinite(dual) else math.nan
    columns: np.ndarray | None = None
    aides: np.ndarray | None = None
    if integral and found:
        columns = np.flatnonzero(outcome.x[x0:y0] > 0.5)
        aides = np.round(outcome.x[y0:][columns]).astype(np.int64)
    share = outcome.x[x0:y0] if found and not integral else None
    return HighsOutcome(
        columns, aides, objective_value, bound, optimal, str(outcome.message), seconds, share
    )
