"""Stations' reaches kept by location, packed: a batch of walks as one block of flat arrays.

A project's first evaluation walks from every station at once (2,650 stations reaching some
260,000 communities on the city mosaic). Kept as one :class:`~quarterhour.api.workspace.
incremental.Reach` each, the reaches cost 500 bytes of Python objects apiece beside their arrays;
a :class:`ReachBlock` holds them as CSR arrays (the costs in float64 as walked, so walk times stay
those of ``quarterhour plan``) and hands out views. An edit's single reach is kept as it is.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict

import numpy as np

from quarterhour.api.workspace.incremental import Reach

Location = tuple[float, float]
"""A station's WGS84 point, rounded to 7 decimals."""

MIN_BLOCK = 8
"""Reaches of one batch from which they are packed into a block (fewer are kept one by one)."""


def _keys(locations: list[Location]) -> np.ndarray:
    """Locations as complex numbers (lon + i lat): sorted by lon then lat, compared exactly."""
    return np.asarray([complex(lon, lat) for lon, lat in locations], np.complex128)


class ReachBlock:
    """Reaches of a batch of locations as flat arrays (CSR by location, sorted by location).

    Parameters
    ----------
    locations
        The stations' locations (distinct).
    reaches
        Their reaches, in the same order.
    """

    def __init__(self, locations: list[Location], reaches: list[Reach]) -> None:
        keys = _keys(locations)
        order = np.argsort(keys, kind="stable")
        self.keys = keys[order]
        picked = [reaches[k] for k in order]
        sizes = np.asarray([item.rows.size for item in picked], np.int64)
        self.indptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.rows = np.concatenate([item.rows for item in picked]).astype(np.int32, copy=False)
        self.cost = np.concatenate([item.cost for item in picked])
        self.on_network = np.asarray([item.on_network for item in picked], bool)

    def __len__(self) -> int:
        return int(self.keys.size)

    def find(self, keys: np.ndarray) -> np.ndarray:
        """Where each key stands in the block, -1 where it is not in it."""
        at = np.searchsorted(self.keys, keys)
        inside = at < self.keys.size
        found = np.zeros(keys.size, bool)
        found[inside] = self.keys[at[inside]] == keys[inside]
        return np.where(found, at, -1)

    def reach(self, position: int) -> Reach:
        """The reach at ``position`` (views of the block's arrays)."""
        part = slice(int(self.indptr[position]), int(self.indptr[position + 1]))
        return Reach(self.rows[part], self.cost[part], on_network=bool(self.on_network[position]))

    @property
    def nbytes(self) -> int:
        """Memory held."""
        held = (self.keys, self.indptr, self.rows, self.cost, self.on_network)
        return sum(int(item.nbytes) for item in held)


class ReachStore:
    """Reaches by location, the least recently used dropped beyond ``max_reaches``.

    Batches of :data:`MIN_BLOCK` reaches or more are kept as blocks (dropped whole), smaller
    ones one by one. Not thread-safe: the engine holds its lock around every call.

    Parameters
    ----------
    max_reaches
        Reaches kept at most.
    """

    def __init__(self, *, max_reaches: int) -> None:
        self.max_reaches = max_reaches
        self._blocks: OrderedDict[int, ReachBlock] = OrderedDict()
        self._single: OrderedDict[Location, Reach] = OrderedDict()
        self._used: dict[int | Location, int] = {}
        self._tick = itertools.count()
        self._block_ids = itertools.count()

    def __len__(self) -> int:
        return len(self._single) + sum(len(block) for block in self._blocks.values())

    def get(self, locations: list[Location]) -> list[Reach | None]:
        """The kept reach of each location (None where none is kept); marks them used."""
        out: list[Reach | None] = [self._single.get(location) for location in locations]
        for location, found in zip(locations, out, strict=True):
            if found is not None:
                self._single.move_to_end(location)
                self._used[location] = next(self._tick)
        wanted = [k for k, found in enumerate(out) if found is None]
        if wanted and self._blocks:
            keys = _keys([locations[k] for k in wanted])
            for block_id, block in list(self._blocks.items()):
                at = block.find(keys)
                if (at < 0).all():
                    continue
                for k, position in zip(wanted, at, strict=True):
                    if position >= 0:
                        out[k] = block.reach(int(position))
                self._blocks.move_to_end(block_id)
                self._used[block_id] = next(self._tick)
        return out

    def add(self, locations: list[Location], reaches: list[Reach]) -> None:
        """Keep the reaches of new (distinct) locations; drop the least recently used over bound."""
        if len(locations) >= MIN_BLOCK:
            block_id = next(self._block_ids)
            self._blocks[block_id] = ReachBlock(locations, reaches)
            self._used[block_id] = next(self._tick)
        else:
            for location, reach in zip(locations, reaches, strict=True):
                self._single[location] = reach
                self._used[location] = next(self._tick)
        count = len(self)
        while count > self.max_reaches and (self._single or len(self._blocks) > 1):
            single = next(iter(self._single), None)
            oldest = next(iter(self._blocks), None)
            if single is not None and (oldest is None or self._used[single] < self._used[oldest]):
                del self._single[single], self._used[single]
                count -= 1
            elif oldest is not None:
                count -= len(self._blocks.pop(oldest))
                del self._used[oldest]

    @property
    def nbytes(self) -> int:
        """Memory the reaches hold (their arrays)."""
        single = sum(item.nbytes for item in self._single.values())
        return single + sum(block.nbytes for block in self._blocks.values())
