"""The packed store of stations' reaches gives back, bit for bit, what it was given."""

from __future__ import annotations

import numpy as np

from quarterhour.api.workspace.incremental import Reach
from quarterhour.api.workspace.reaches import MIN_BLOCK, ReachStore


def _batch(rng: np.random.Generator, size: int) -> tuple[list[tuple[float, float]], list[Reach]]:
    lon = np.round(121.4 + rng.random(size) * 0.1, 7)
    lat = np.round(31.2 + rng.random(size) * 0.1, 7)
    reaches = []
    for k in range(size):
        if k % 17 == 3:  # off the network
            reaches.append(Reach(np.empty(0, np.int32), np.empty(0), on_network=False))
            continue
        rows = np.sort(rng.choice(5000, int(rng.integers(0, 60)), replace=False)).astype(np.int32)
        reaches.append(Reach(rows, rng.random(rows.size) * 900.0))
    return [(float(x), float(y)) for x, y in zip(lon, lat, strict=True)], reaches


def _same(got: Reach | None, want: Reach) -> bool:
    return (
        got is not None
        and got.on_network == want.on_network
        and got.rows.dtype == np.int32
        and np.array_equal(got.rows, want.rows)
        and got.cost.tobytes() == want.cost.tobytes()
    )


def test_store_gives_back_each_reach_of_blocks_and_singles() -> None:
    rng = np.random.default_rng(2)
    store = ReachStore(max_reaches=10**6)
    reference: dict[tuple[float, float], Reach] = {}
    for size in (1, MIN_BLOCK - 1, MIN_BLOCK, 300, 2, 1, 120):
        locations, reaches = _batch(rng, size)
        locations = [key for key in locations if key not in reference][: len(reaches)]
        reaches = reaches[: len(locations)]
        store.add(locations, reaches)
        reference.update(zip(locations, reaches, strict=True))
    assert len(store) == len(reference)
    keys = list(reference)
    asked = [keys[int(k)] for k in rng.integers(len(keys), size=500)] + [(0.5, 0.25)]
    got = store.get(asked)
    assert all(_same(item, reference[key]) for key, item in zip(asked[:-1], got, strict=False))
    assert got[-1] is None
    payload = sum(item.rows.nbytes + item.cost.nbytes for item in reference.values())
    assert payload <= store.nbytes <= payload + 40 * len(reference)


def test_store_drops_the_least_recently_used_beyond_its_bound() -> None:
    rng = np.random.default_rng(3)
    store = ReachStore(max_reaches=252)
    old, old_reaches = _batch(rng, 150)
    store.add(old, old_reaches)
    singles, single_reaches = _batch(rng, 5)
    for location, reach in zip(singles, single_reaches, strict=True):
        store.add([location], [reach])
    assert _same(store.get([old[0]])[0], old_reaches[0])  # the block is used after the singles
    new, new_reaches = _batch(rng, 100)
    store.add(new, new_reaches)
    assert len(store) == 252  # 255 given: the three least recently used went
    assert store.get(singles[:3]) == [None] * 3
    assert all(_same(item, want) for item, want in zip(store.get(old), old_reaches, strict=True))
    assert all(_same(item, want) for item, want in zip(store.get(new), new_reaches, strict=True))
    newest, newest_reaches = _batch(rng, 60)
    store.add(newest, newest_reaches)  # the other singles go, then the older block whole
    assert store.get(old[:1]) == [None]
    assert len(store) == 160
