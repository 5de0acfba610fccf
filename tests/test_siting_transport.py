"""The capacitated assignment (a least-cost maximum flow) against HiGHS' two linear programmes."""

from __future__ import annotations

import time

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import linprog
from scipy.sparse.csgraph import connected_components

from quarterhour.siting.capacity import assign_within
from quarterhour.siting.transport import EPSILON, FlowNetwork, send_from_sources


def reference(cost: sp.csr_matrix, demand: np.ndarray, capacity: np.ndarray) -> tuple[float, float]:
    """Most demand served within capacities, then the least cost: two LPs (HiGHS), scaled."""
    coo = cost.tocoo()
    pairs = np.arange(coo.nnz)
    unit = max(float(demand.max(initial=0.0)), float(capacity.max(initial=0.0)), 1e-300)
    rows = sp.csr_matrix((np.ones(coo.nnz), (coo.row, pairs)), shape=(cost.shape[0], coo.nnz))
    cols = sp.csr_matrix((np.ones(coo.nnz), (coo.col, pairs)), shape=(cost.shape[1], coo.nnz))
    limits = sp.vstack([rows, cols], format="csr")
    room = np.concatenate([demand, capacity]) / unit
    most = linprog(-np.ones(coo.nnz), A_ub=limits, b_ub=room, bounds=(0, None), method="highs")
    assert most.status == 0
    served = -most.fun
    with_served = sp.vstack([limits, -np.ones((1, coo.nnz))], format="csr")
    least = linprog(
        coo.data,
        A_ub=with_served,
        b_ub=np.concatenate([room, [-served * (1 - 1e-11)]]),
        bounds=(0, None),
        method="highs",
        options={"primal_feasibility_tolerance": 1e-10},
    )
    assert least.status == 0
    return served * unit, least.fun * unit


def random_instance(seed: int) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """Communities x stations of every kind: sizes, densities, ties, empty rows and columns."""
    rng = np.random.default_rng(seed)
    n_rows, n_cols = int(rng.integers(5, 61)), int(rng.integers(1, 25))
    stored = rng.random((n_rows, n_cols)) < rng.uniform(0.03, 0.6)
    stored[rng.random(n_rows) < 0.1] = False  # communities out of every station's reach
    stored[:, rng.random(n_cols) < 0.1] = False  # stations out of every community's reach
    if seed % 3 == 0:  # ties: whole minutes, zeros among them
        walk = rng.integers(0, 6, (n_rows, n_cols)).astype(float)
    else:
        walk = rng.random((n_rows, n_cols)) * 15.0
    rows, cols = np.nonzero(stored)
    cost = sp.csr_matrix((walk[rows, cols], (rows, cols)), shape=(n_rows, n_cols))
    scale = [1.0, 1e9, 1e-3][seed % 3]
    if seed % 2:
        demand = rng.integers(0, 100, n_rows).astype(float) * scale
    else:
        demand = rng.random(n_rows) * 100.0 * scale
    demand[rng.random(n_rows) < 0.1] = 0.0
    share = [0.1, 0.4, 0.8, 1.5, 4.0][seed % 5]  # short to ample
    capacity = rng.random(n_cols) * 2.0 * share * demand.sum() / n_cols
    if seed % 4 == 0:
        capacity = np.round(capacity / scale) * scale  # whole residents: ties of room
    capacity[rng.random(n_cols) < 0.1] = 0.0
    return cost, demand, capacity


def carried_on_a_forest(flow: sp.csr_matrix, tolerance: float) -> bool:
    """Whether the pairs that carry flow form no cycle (a vertex, as the simplex method gives)."""
    carried = sp.csr_matrix(flow.toarray() > tolerance)
    graph = sp.bmat([[None, carried], [carried.T, None]], format="csr")
    touched = np.asarray(graph.sum(axis=1)).ravel() > 0
    n_parts, _ = connected_components(graph[touched][:, touched], directed=False)
    return carried.nnz <= int(touched.sum()) - n_parts


def check_feasible(
    cost: sp.csr_matrix, flow: sp.csr_matrix, demand: np.ndarray, capacity: np.ndarray
) -> None:
    """Flow only on stored pairs, non-negative, within every demand and capacity."""
    assert (flow.indptr == cost.indptr).all()
    assert (flow.indices == cost.indices).all()
    assert (flow.data >= 0).all()
    unit = max(float(demand.max(initial=0.0)), float(capacity.max(initial=0.0)))
    assert (np.asarray(flow.sum(axis=1)).ravel() <= demand + 1e-9 * unit).all()
    assert (np.asarray(flow.sum(axis=0)).ravel() <= capacity + 1e-9 * unit).all()


@pytest.mark.parametrize("first", range(0, 240, 40))
def test_assignment_against_two_highs_programmes(first: int) -> None:
    for seed in range(first, first + 40):
        cost, demand, capacity = random_instance(seed)
        ours = assign_within(cost, demand, capacity)
        assert ours.optimal
        check_feasible(sp.csr_matrix(cost), ours.flow, demand, capacity)
        assert ours.served == pytest.approx(np.asarray(ours.flow.sum(axis=1)).ravel())
        assert carried_on_a_forest(ours.flow, ours.tolerance), seed
        if cost.nnz == 0:
            assert ours.served.sum() == 0.0
            continue
        served, walk = reference(cost, demand, capacity)
        unit = max(float(demand.max()), float(capacity.max()), 1e-300)
        assert ours.served.sum() == pytest.approx(served, rel=1e-9, abs=1e-12 * unit), seed
        assert ours.walk == pytest.approx(walk, rel=1e-7, abs=1e-9 * unit), seed


def test_the_far_community_does_not_keep_the_room_the_near_one_needs() -> None:
    # community 0 comes first and reaches station 0 only, far; community 1 reaches it near, and
    # station 1 near that is full from community 2: sent one community at a time in order, 0
    # takes the room and the walk is 90; the least among maximum flows serves 1 there instead.
    cost = sp.csr_matrix(np.array([[9.0, 0.0], [1.0, 2.0], [0.0, 1.0]]))
    demand = np.array([10.0, 10.0, 10.0])
    capacity = np.array([10.0, 10.0])
    ours = assign_within(cost, demand, capacity)
    np.testing.assert_allclose(ours.served, [0.0, 10.0, 10.0])
    assert ours.walk == pytest.approx(20.0)
    assert ours.unserved[0] == pytest.approx(10.0)
    # and the longer chain: community 0's room comes back through two stations
    chain = sp.csr_matrix(
        np.array([[0.0, 0.0, 5.0], [0.0, 1.0, 3.0], [1.0, 4.0, 0.0], [2.0, 0.0, 0.0]])
    )
    ours = assign_within(chain, np.full(4, 10.0), np.full(3, 10.0))
    served, walk = reference(chain, np.full(4, 10.0), np.full(3, 10.0))
    assert ours.served.sum() == pytest.approx(served) == 30.0
    assert ours.walk == pytest.approx(walk)


def test_zero_and_huge_amounts_and_empty_pairs() -> None:
    cost = sp.csr_matrix(np.array([[1.0, 2.0, 0.0], [0.0, 0.0, 0.0], [3.0, 0.0, 0.0]]))
    cost.eliminate_zeros()
    big = assign_within(cost, np.array([2e9, 5e8, 1.0]), np.array([1e9, 1.5e9, 7.0]))
    np.testing.assert_allclose(big.served, [2e9, 0.0, 1.0])
    assert big.unserved[1] == 5e8
    assert big.walk == pytest.approx(1e9 * 1.0 + 1e9 * 2.0 + 3.0)
    nothing = assign_within(cost, np.zeros(3), np.array([1.0, 1.0, 1.0]))
    assert nothing.served.sum() == 0.0
    assert nothing.walk == 0.0
    closed = assign_within(cost, np.ones(3), np.zeros(3))
    np.testing.assert_array_equal(closed.unserved, np.ones(3))
    empty = assign_within(sp.csr_matrix((4, 2)), np.ones(4), np.ones(2))
    assert empty.flow.nnz == 0
    np.testing.assert_array_equal(empty.unserved, np.ones(4))
    stored_zero = sp.csr_matrix((np.array([0.0]), np.array([0]), np.array([0, 1])), shape=(1, 1))
    assert assign_within(stored_zero, np.array([5.0]), np.array([3.0])).served[0] == 3.0


@pytest.mark.parametrize(
    ("where", "value"), [("cost", np.nan), ("demand", -1.0), ("capacity", np.inf)]
)
def test_bad_amounts_are_refused(where: str, value: float) -> None:
    cost = sp.csr_matrix(np.array([[1.0, 2.0], [3.0, 0.0]]))
    amounts = {"demand": np.array([5.0, 5.0]), "capacity": np.array([4.0, 4.0])}
    if where == "cost":
        cost.data[0] = value
    else:
        amounts[where][1] = value
    with pytest.raises(ValueError, match=where):
        assign_within(cost, amounts["demand"], amounts["capacity"])


def test_an_assignment_past_its_deadline_is_greedy_and_feasible() -> None:
    cost, demand, capacity = random_instance(2)
    cut = assign_within(cost, demand, capacity, deadline=time.perf_counter() - 1.0)
    assert not cut.optimal
    check_feasible(sp.csr_matrix(cost), cut.flow, demand, capacity)
    assert cut.served.sum() > 0


def test_the_flow_goes_on_where_a_chunk_stopped() -> None:
    # the deadline is looked at between chunks of work: stopped after every search and resumed,
    # the kernel ends where one call ends
    cost, demand, capacity = random_instance(7)
    unit = max(demand.max(), capacity.max())
    network = FlowNetwork.of(cost.indptr, cost.indices, cost.data, cost.shape[1])
    flows, calls_made = [], []
    for budget in (1, np.iinfo(np.int64).max):
        flow, supply, room = np.zeros(cost.nnz), demand / unit, capacity / unit
        potential = network.potentials()
        dead = np.zeros(network.n_sources + network.n_targets, np.bool_)
        start, calls = 0, 0
        while start < network.n_sources:
            start = send_from_sources(
                network, flow, supply, room, potential, dead, start, budget, EPSILON
            )
            calls += 1
        flows.append(flow)
        calls_made.append(calls)
    assert calls_made[0] > 10
    assert calls_made[1] == 1
    np.testing.assert_allclose(flows[0], flows[1], rtol=0, atol=1e-12)
    assert flows[0].sum() > 0
