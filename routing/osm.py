"""Read walkable ways from an OpenStreetMap file (.osm, .osm.xml, .osm.bz2, .osm.pbf).

pyosmium does the parsing and the node-location lookup in C++; this module keeps the ways that
osmnx's ``walk`` network type keeps and returns their node sequences as flat arrays.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import osmium

from quarterhour.geo.errors import InputError, NetworkError, require_file
from quarterhour.routing.progress import progress_bar

if TYPE_CHECKING:
    from pathlib import Path

log = logging.getLogger("quarterhour")

OSM_SUFFIXES = (".osm", ".osm.xml", ".xml", ".osm.bz2", ".osm.gz", ".osm.pbf", ".pbf")

# osmnx's "walk" network type (osmnx._overpass._get_network_filter("walk")), as regexes that
# must NOT match (Overpass `!~` is an unanchored regex search).
WALK_EXCLUDE: dict[str, re.Pattern[str]] = {
    "area": re.compile("yes"),
    "access": re.compile("private"),
    "highway": re.compile(
        "abandoned|bus_guideway|construction|cycleway|motor|no|planned|platform|proposed"
        "|raceway|razed|rest_area|services"
    ),
    "foot": re.compile("no"),
    "service": re.compile("private"),
    "sidewalk": re.compile("separate"),
    "sidewalk:both": re.compile("separate"),
    "sidewalk:left": re.compile("separate"),
    "sidewalk:right": re.compile("separate"),
}


def is_walkable(tags: dict[str, str]) -> bool:
    """Return whether a way with these tags belongs to osmnx's ``walk`` network.

    Parameters
    ----------
    tags
        The way's OSM tags.
    """
    if "highway" not in tags:
        return False
    return not any(
        key in tags and pattern.search(tags[key]) for key, pattern in WALK_EXCLUDE.items()
    )


@dataclass(frozen=True)
class WayPieces:
    """Walkable way pieces as flat arrays.

    A piece is a run of at least two consecutive way nodes whose locations are known; a way
    whose nodes are missing from a clipped extract is cut into pieces at the missing nodes.

    Attributes
    ----------
    node_ids
        OSM node id of every position, all pieces concatenated.
    lon, lat
        WGS84 degrees of every position.
    piece_offsets
        Start of each piece in the flat arrays, plus the end.
    n_ways
        Walkable ways read.
    n_missing_refs
        Way node references whose node is not in the file.
    """

    node_ids: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    piece_offsets: np.ndarray
    n_ways: int
    n_missing_refs: int


def check_osm_path(path: str | Path) -> Path:
    """Return ``path`` as a Path if it names a readable OSM file, else raise InputError."""
    path = require_file(path, what="OSM")
    name = path.name.lower()
    if not name.endswith(OSM_SUFFIXES):
        msg = f"{path}: not an OSM file (expected one of {', '.join(OSM_SUFFIXES)})"
        raise InputError(msg)
    if path.stat().st_size == 0:
        msg = f"{path}: the OSM file is empty"
        raise InputError(msg)
    return path


def _osmium_file(path: Path) -> str | osmium.io.File:
    # pyosmium picks the format from the suffix; name it for suffixes it does not know.
    name = path.name.lower()
    if name.endswith(".xml") and not name.endswith(".osm.xml"):
        return osmium.io.File(str(path), "osm")
    return str(path)


def read_walkable_ways(path: str | Path, *, quiet: bool = True) -> WayPieces:
    """Read the walkable ways of an OSM file with their node locations.

    Parameters
    ----------
    path
        An ``.osm``, ``.osm.xml``, ``.osm.bz2`` or ``.osm.pbf`` file.

    quiet
        Hide the progress bar (ways read).

    Returns
    -------
    pieces
        The walkable way pieces; dangling node references (clipped extracts) are tolerated.

    Raises
    ------
    InputError
        If the file is missing, empty, malformed or truncated.
    NetworkError
        If the file holds no walkable way.
    """
    path = check_osm_path(path)
    node_ids: list[int] = []
    xs: list[int] = []
    ys: list[int] = []
    piece_starts: list[int] = []
    n_ways = 0
    n_missing = 0
    bar = progress_bar(total=None, desc=f"reading {path.name}", unit="ways", quiet=quiet)
    try:
        processor = (
            osmium.FileProcessor(_osmium_file(path), osmium.osm.NODE | osmium.osm.WAY)
            .with_locations()
            .with_filter(osmium.filter.KeyFilter("highway"))
            .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
        )
        for way in processor:
            if not is_walkable(dict(way.tags)):
                continue
            n_ways += 1
            if n_ways % 10_000 == 0:
                bar.update(10_000)
            run_start = len(node_ids)
            for node in way.nodes:  # type: ignore[union-attr]  # the filter passes only ways
                location = node.location
                if not location.valid():
                    n_missing += 1
                    if len(node_ids) - run_start >= 2:
                        piece_starts.append(run_start)
                    else:
                        del node_ids[run_start:], xs[run_start:], ys[run_start:]
                    run_start = len(node_ids)
                    continue
                node_ids.append(node.ref)
                xs.append(location.x)
                ys.append(location.y)
            if len(node_ids) - run_start >= 2:
                piece_starts.append(run_start)
            else:
                del node_ids[run_start:], xs[run_start:], ys[run_start:]
    except RuntimeError as error:
        msg = f"{path}: cannot read OSM data ({error}); is the file truncated or not OSM?"
        raise InputError(msg) from error
    finally:
        bar.close()

    if not piece_starts:
        msg = f"{path}: no walkable ways (highway=* open to pedestrians) in this OSM file"
        raise NetworkError(msg)
    piece_offsets = np.append(np.asarray(piece_starts, dtype=np.int64), len(node_ids))
    log.info(
        "read %s walkable ways with %s node references from %s%s",
        f"{n_ways:,}",
        f"{len(node_ids):,}",
        path.name,
        f" ({n_missing:,} references to nodes missing from the extract)" if n_missing else "",
    )
    return WayPieces(
        node_ids=np.asarray(node_ids, dtype=np.int64),
        lon=np.asarray(xs, dtype=np.float64) / 1e7,
        lat=np.asarray(ys, dtype=np.float64) / 1e7,
        piece_offsets=piece_offsets,
        n_ways=n_ways,
        n_missing_refs=n_missing,
    )
