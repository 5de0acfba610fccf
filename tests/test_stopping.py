"""A cancelled step stops: the walk times, the search and a HiGHS solve in its forked process.

The workspace cancels a plan from any worker; here the question "should I stop?" is a clock, and
each step must raise ``Cancelled`` long before its own time limit would have ended it.
"""

from __future__ import annotations

import multiprocessing
import time

import numpy as np
import pytest

from quarterhour.routing import stopping
from quarterhour.routing.walktimes import walk_times
from quarterhour.siting import CoverageModel
from quarterhour.siting.bounds import cover_highs
from quarterhour.siting.bundled import default_communities

from instances import orlib_instance

UNDER_LOAD_S = 20.0
"""Seconds a cancelled step may still take on a busy machine (its time limit is 120 s)."""


def _after(seconds: float):
    started = time.monotonic()
    return lambda: time.monotonic() - started > seconds


def test_a_cancelled_highs_solve_is_killed() -> None:
    matrix = orlib_instance("scpnre1")  # HiGHS needs far longer than a second to prove it
    started = time.monotonic()
    with stopping.stop_when(_after(1.0)), pytest.raises(stopping.Cancelled):
        cover_highs(matrix, integral=True, time_limit=120.0)
    assert time.monotonic() - started < UNDER_LOAD_S
    assert multiprocessing.active_children() == []


def test_a_cancelled_search_stops_and_the_model_keeps_no_result() -> None:
    model = CoverageModel.from_cost_matrix(orlib_instance("scpnre1"))
    started = time.monotonic()
    with stopping.stop_when(_after(0.5)), pytest.raises(stopping.Cancelled):
        model.solve(effort="thorough", exact=True, time_limit=120.0)
    assert time.monotonic() - started < UNDER_LOAD_S
    assert model.result is None
    assert multiprocessing.active_children() == []


def test_cancelled_walk_times_stop_before_their_first_chunk(network_of) -> None:
    network = network_of("shanghai_center")
    homes = default_communities(network).subset(np.arange(200))
    with stopping.stop_when(lambda: True), pytest.raises(stopping.Cancelled):
        walk_times(network, homes, homes, minutes=15)
    assert len(walk_times(network, homes, homes, minutes=15)) > 200  # and runs outside it


def test_outside_a_watch_nothing_is_cancelled() -> None:
    assert not stopping.requested()
    stopping.check()
    with stopping.stop_when(lambda: False):
        assert not stopping.requested()
    asked: list[bool] = []
    with stopping.stop_when(lambda: asked.append(True) or False):
        for _ in range(1000):
            stopping.requested()
    assert 1 <= len(asked) <= 10  # asked once per CHECK_EVERY_S, not once per call
