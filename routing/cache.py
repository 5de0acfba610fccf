"""On-disk cache of built networks: CSR arrays, coordinates and geometries in one .npz.

The key is the OSM file's SHA-256 plus every option that changes the network, plus the cache
format version; a stale key is simply another file. A corrupt or old file is rebuilt.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import shapely

from quarterhour import settings
from quarterhour.geo.projection import LocalProjection
from quarterhour.routing.graph import WalkNetwork

log = logging.getLogger("quarterhour")

CACHE_VERSION = 1


def file_digest(path: Path) -> str:
    """Return the SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cache_path(
    path: Path,
    *,
    boundary: shapely.Geometry | None,
    min_component_share: float | None,
    folder: str | Path | None = None,
) -> Path:
    """Return where the network built from ``path`` with these options is cached."""
    key = hashlib.sha256()
    key.update(file_digest(path).encode())
    share = settings.min_component_share if min_component_share is None else min_component_share
    key.update(f"v{CACHE_VERSION}|min_component_share={share!r}|".encode())
    if boundary is not None:
        key.update(shapely.to_wkb(shapely.normalize(boundary)))
    folder = Path(folder) if folder is not None else settings.cache_folder
    stem = path.name.split(".")[0]
    return folder / f"{stem}-{key.hexdigest()[:20]}.npz"


def write(network: WalkNetwork, path: Path) -> None:
    """Write a network to ``path`` atomically (a reader never sees a half-written file)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(handle, "wb") as out:
            np.savez(
                out,
                version=np.array(CACHE_VERSION),
                epsg=np.array(network.projection.epsg),
                **{name: getattr(network, name) for name in WalkNetwork.ARRAYS},
            )
        Path(temporary).replace(path)
    except OSError as error:
        log.warning("could not cache the network at %s: %s", path, error)
        return
    log.info("cached network at %s", path)


def read(path: Path, *, source: str) -> WalkNetwork | None:
    """Return the cached network at ``path``, or None when it is missing, old or corrupt."""
    if not path.is_file():
        return None
    try:
        with np.load(path) as stored:
            if int(stored["version"]) != CACHE_VERSION:
                return None
            arrays = {name: stored[name] for name in WalkNetwork.ARRAYS}
            epsg = int(stored["epsg"])
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as error:
        log.warning("ignoring corrupt network cache %s (%s); rebuilding", path, error)
        return None
    network = WalkNetwork(**arrays, projection=LocalProjection(epsg), source=source)
    log.info("loaded %s from cache", network.describe())
    return network
