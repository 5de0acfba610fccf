"""Shared fixtures: the real OSM extracts and compounds bundled in data/."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from quarterhour import settings
from quarterhour.routing.network import load_network

if TYPE_CHECKING:
    from quarterhour.routing.graph import WalkNetwork

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Keep the tests' network cache out of the user's cache folder."""
    folder = tmp_path_factory.mktemp("network-cache")
    settings.cache_folder = folder
    return folder


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def network_of(isolated_cache: Path):
    """Load (and cache for the session) the walking network of a bundled extract by name."""
    loaded: dict[str, WalkNetwork] = {}

    def load(name: str) -> WalkNetwork:
        if name not in loaded:
            loaded[name] = load_network(DATA / f"{name}.osm.pbf")
        return loaded[name]

    return load
