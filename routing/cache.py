"""On-disk cache of built networks: one file of raw arrays, memory-mapped when read.

The key is the OSM file's SHA-256 plus every option that changes the network, plus the cache
format version; a stale key is simply another file. A corrupt or old file is rebuilt. A file's
modification time is when it was last used: :func:`prune` removes the files not used for
``settings.cache_max_age_days`` and, past ``settings.cache_max_mb`` in all, those used longest
ago (after each write and read), so that a service fed many extracts does not fill its disk.

The format is simple and versioned::

    8 bytes   MAGIC
    8 bytes   header length n (little-endian unsigned)
    n bytes   header, UTF-8 JSON: {"version", "epsg", "arrays": {name: {"dtype", "shape",
              "offset"}}}; offsets count from the first byte after the header, rounded up to
              ALIGN bytes
    ...       each array's bytes, C order, at its offset (a multiple of ALIGN)

:func:`load_arrays` maps the file read-only and returns the arrays as views of the mapping, so
reading is instant and every process serving the same network (``serve --workers``) shares one
copy of it in the page cache. Every array a network is built from passes through that one
function.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import mmap
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from pyproj import CRS
from pyproj.exceptions import CRSError

from quarterhour import settings
from quarterhour.geo.atomic import atomic_path
from quarterhour.geo.errors import QuarterhourError
from quarterhour.geo.projection import LocalProjection
from quarterhour.routing.graph import WalkNetwork

log = logging.getLogger("quarterhour")

CACHE_VERSION = 2
MAGIC = b"QHNET\r\n\x1a"
"""First bytes of a cache file (the line ends catch a text-mode copy, as PNG's signature does)."""
ALIGN = 64
"""Arrays start at multiples of this many bytes (a cache line; more than any dtype needs)."""
SUFFIX = ".qhnet"


class CacheFormatError(ValueError):
    """A cache file that is not a network cache of this version (truncated, old, foreign)."""


DTYPES: dict[str, np.dtype] = {
    "node_osmid": np.dtype(np.int64),
    "node_x": np.dtype(np.float64),
    "node_y": np.dtype(np.float64),
    "edge_u": np.dtype(np.int32),
    "edge_v": np.dtype(np.int32),
    "edge_length_m": np.dtype(np.float64),
    "geom_offsets": np.dtype(np.int64),
    "geom_x": np.dtype(np.float64),
    "geom_y": np.dtype(np.float64),
    "indptr": np.dtype(np.int64),
    "arc_head": np.dtype(np.int32),
    "arc_edge": np.dtype(np.int32),
}
"""The dtype of every array of a network, as the kernels take them."""


def _offsets_ok(offsets: np.ndarray, length: int, end: int) -> bool:
    """Whether ``offsets`` is a CSR offset array of ``length + 1`` entries from 0 to ``end``."""
    return (
        offsets.shape == (length + 1,)
        and int(offsets[0]) == 0
        and int(offsets[-1]) == end
        and bool((np.diff(offsets) >= 0).all())
    )


def _shape_problem(arrays: dict[str, np.ndarray]) -> str | None:
    for key, dtype in DTYPES.items():
        array = arrays.get(key)
        if array is None:
            return f"no array {key}"
        if array.dtype != dtype or array.ndim != 1:
            return f"array {key} is {array.dtype} {array.shape}, expected 1-D {dtype}"
    n_nodes, n_edges = arrays["node_x"].size, arrays["edge_u"].size
    checks = (
        (arrays["node_y"].size == arrays["node_osmid"].size == n_nodes, "node arrays differ"),
        (arrays["edge_v"].size == arrays["edge_length_m"].size == n_edges, "edge arrays differ"),
        (arrays["geom_x"].size == arrays["geom_y"].size, "geometry arrays differ in length"),
        (
            _offsets_ok(arrays["geom_offsets"], n_edges, arrays["geom_x"].size),
            "geom_offsets is not an offset array of the edge geometries",
        ),
        (
            arrays["arc_head"].size == arrays["arc_edge"].size == 2 * n_edges,
            "arcs are not 2 an edge",
        ),
        (
            _offsets_ok(arrays["indptr"], n_nodes, arrays["arc_head"].size),
            "indptr is not an offset array of the arcs",
        ),
    )
    return next((why for ok, why in checks if not ok), None)


def _value_problem(arrays: dict[str, np.ndarray]) -> str | None:
    n_nodes, n_edges = arrays["node_x"].size, arrays["edge_u"].size
    if (np.diff(arrays["geom_offsets"]) < 2).any():
        return "an edge geometry has fewer than 2 vertices"
    bounds = {"edge_u": n_nodes, "edge_v": n_nodes, "arc_head": n_nodes, "arc_edge": n_edges}
    for key, bound in bounds.items():
        values = arrays[key]
        if values.size and (values.min() < 0 or values.max() >= bound):
            return f"{key} holds indices out of range"
    for key in ("node_x", "node_y", "geom_x", "geom_y", "edge_length_m"):
        if not np.isfinite(arrays[key]).all():
            return f"{key} holds values that are not finite"
    if (arrays["edge_length_m"] < 0).any():
        return "edge_length_m holds negative lengths"
    return None


def _crs_problem(epsg: object) -> str | None:
    try:
        crs = CRS.from_epsg(int(epsg))  # type: ignore[call-overload]  # any value: TypeError is caught
    except (TypeError, ValueError, CRSError):
        return f"epsg {epsg!r} is not a coordinate system"
    return None if crs.is_projected else f"EPSG:{epsg} is not a metric projection"


def check_network_arrays(arrays: dict[str, np.ndarray], epsg: object, *, name: str) -> None:
    """Check that cached arrays make a network the kernels can walk without reading out of bounds.

    Shapes, dtypes, CSR offsets, index ranges, finite coordinates and a metric CRS: a cache that
    passes cannot crash a kernel; one that fails is rebuilt.

    Raises
    ------
    CacheFormatError
        Naming what is wrong.
    """
    problem = _shape_problem(arrays) or _value_problem(arrays) or _crs_problem(epsg)
    if problem is not None:
        msg = f"{name}: {problem}"
        raise CacheFormatError(msg)


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
    return folder / f"{stem}-{key.hexdigest()[:20]}{SUFFIX}"


def _aligned(size: int) -> int:
    return -(-size // ALIGN) * ALIGN


def write_arrays(path: Path, arrays: dict[str, np.ndarray], **meta: object) -> None:
    """Write ``arrays`` and JSON-able ``meta`` to ``path`` in the cache format, atomically.

    Raises
    ------
    OutputError
        If the file cannot be written (nothing is left behind; the temporaries of writers that
        died are removed by the next writer).
    """
    specs: dict[str, dict[str, Any]] = {}
    offset = 0
    contiguous = {name: np.ascontiguousarray(array) for name, array in arrays.items()}
    for name, array in contiguous.items():
        specs[name] = {"dtype": array.dtype.str, "shape": list(array.shape), "offset": offset}
        offset = _aligned(offset + array.nbytes)
    header = json.dumps({"version": CACHE_VERSION, **meta, "arrays": specs}).encode()
    start = _aligned(len(MAGIC) + 8 + len(header))
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temporary, temporary.open("wb") as out:
        out.write(MAGIC + len(header).to_bytes(8, "little") + header)
        for name, array in contiguous.items():
            out.seek(start + int(specs[name]["offset"]))
            out.write(array.tobytes())
        out.truncate(start + offset)


def load_arrays(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Map a cache file read-only: its header and its arrays (read-only views of the mapping).

    The single place where cached arrays enter the program: checks of what they hold belong
    here.

    Raises
    ------
    CacheFormatError
        If the file is not a complete cache file of ``CACHE_VERSION``.
    OSError
        If it cannot be read.
    """
    with path.open("rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size < len(MAGIC) + 8:
            msg = f"{path.name}: {size} bytes, too short for a network cache"
            raise CacheFormatError(msg)
        mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    if mapped[: len(MAGIC)] != MAGIC:
        msg = f"{path.name}: not a quarterhour network cache"
        raise CacheFormatError(msg)
    length = int.from_bytes(mapped[len(MAGIC) : len(MAGIC) + 8], "little")
    try:
        header = json.loads(mapped[len(MAGIC) + 8 : len(MAGIC) + 8 + length])
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        msg = f"{path.name}: unreadable header ({error})"
        raise CacheFormatError(msg) from error
    version = header.get("version") if isinstance(header, dict) else None
    if version != CACHE_VERSION:
        msg = f"{path.name}: cache format {version}, not {CACHE_VERSION}"
        raise CacheFormatError(msg)
    start = _aligned(len(MAGIC) + 8 + length)
    arrays = {}
    for name, spec in header["arrays"].items():
        dtype = np.dtype(spec["dtype"])
        shape = tuple(int(n) for n in spec["shape"])
        count = int(np.prod(shape, dtype=np.int64))
        offset = start + int(spec["offset"])
        if offset + count * dtype.itemsize > size:
            msg = f"{path.name}: array {name} runs past the end of the file (truncated?)"
            raise CacheFormatError(msg)
        arrays[name] = np.frombuffer(mapped, dtype=dtype, count=count, offset=offset).reshape(shape)
    meta = {key: value for key, value in header.items() if key != "arrays"}
    return meta, arrays


def prune(folder: Path, *, keep: Path) -> int:
    """Remove the cached networks of ``folder`` not used for long, and the oldest past the cap.

    A process that has a removed file mapped keeps reading it (the system frees it when the
    last mapping goes).

    Parameters
    ----------
    folder
        The cache folder.
    keep
        The file in use now: never removed.

    Returns
    -------
    int
        How many files were removed.
    """
    entries = []
    with contextlib.suppress(OSError):
        for candidate in folder.glob(f"*{SUFFIX}"):
            with contextlib.suppress(OSError):
                status = candidate.stat()
                entries.append((status.st_mtime, status.st_size, candidate))
    entries.sort()  # the longest unused first
    too_old = time.time() - settings.cache_max_age_days * 86_400
    total = sum(size for _, size, _ in entries)
    cap = settings.cache_max_mb * 1024**2
    removed = 0
    for used, size, candidate in entries:
        if candidate == keep or (used >= too_old and total <= cap):
            continue
        with contextlib.suppress(OSError):
            candidate.unlink()
            total -= size
            removed += 1
    if removed:
        log.info(
            "removed %d cached networks unused for long (cache %s: %.0f MB)",
            removed,
            folder,
            total / 1024**2,
        )
    return removed


def _mark_used(path: Path) -> None:
    with contextlib.suppress(OSError):
        os.utime(path)


def write(network: WalkNetwork, path: Path) -> None:
    """Write a network to ``path`` atomically (a reader never sees a half-written file)."""
    try:
        write_arrays(
            path,
            {name: getattr(network, name) for name in WalkNetwork.ARRAYS},
            epsg=network.projection.epsg,
        )
    except (OSError, QuarterhourError) as error:
        log.warning("could not cache the network at %s: %s", path, error)
        return
    log.info("cached network at %s", path)
    prune(path.parent, keep=path)


def read(path: Path, *, source: str) -> WalkNetwork | None:
    """Return the cached network at ``path`` (memory-mapped), or None when missing or corrupt."""
    if not path.is_file():
        return None
    try:
        meta, arrays = load_arrays(path)
        check_network_arrays(arrays, meta.get("epsg"), name=path.name)
        epsg = int(meta["epsg"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        log.warning("ignoring corrupt network cache %s (%s); rebuilding", path, error)
        return None
    network = WalkNetwork(
        **{name: arrays[name] for name in WalkNetwork.ARRAYS},  # type: ignore[arg-type]  # the array fields
        projection=LocalProjection(epsg),
        source=source,
    )
    log.info("loaded %s from cache", network.describe())
    _mark_used(path)
    prune(path.parent, keep=path)
    return network
