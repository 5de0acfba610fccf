"""Read walkable ways from an OpenStreetMap file (.osm, .osm.xml, .osm.bz2, .osm.pbf).

pyosmium does the parsing and the node-location lookup in C++; this module keeps the ways that
osmnx's ``walk`` network type keeps and returns their node sequences as flat arrays.
"""

from __future__ import annotations

import bz2
import gzip
import logging
import re
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import osmium

from quarterhour import settings
from quarterhour.geo.errors import InputError, NetworkError, require_file
from quarterhour.routing.progress import progress_bar

if TYPE_CHECKING:
    import io
    from collections.abc import Iterator
    from pathlib import Path

log = logging.getLogger("quarterhour")

OSM_SUFFIXES = (".osm", ".osm.xml", ".xml", ".osm.bz2", ".osm.gz", ".osm.pbf", ".pbf")
XML_SUFFIXES = (".osm", ".xml", ".osm.bz2", ".osm.gz")

SCAN_CHUNK = 1 << 20
"""Bytes of XML checked at a time (decompressed)."""

_COORDINATE = {
    name: re.compile(rb"\s%s\s*=\s*[\"']([^\"']*)[\"']" % name.encode()) for name in ("lat", "lon")
}
_NODE = re.compile(rb"<node\s[^>]*>")
_NODE_ID = re.compile(rb"\sid\s*=\s*[\"']([^\"']*)[\"']")
_LIMITS = {"lat": 90.0, "lon": 180.0}
_WORDS = {"lat": "latitude", "lon": "longitude"}
UNDEFINED_COORDINATE = osmium.osm.Location().x
"""libosmium's coordinate of a node not in the file (a clipped extract)."""

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


def _open_xml(path: Path) -> io.BufferedIOBase:
    name = path.name.lower()
    if name.endswith(".bz2"):
        return bz2.open(path, "rb")
    if name.endswith(".gz"):
        return gzip.open(path, "rb")
    return path.open("rb")


def check_osm_xml(path: Path) -> int:
    """Check an OSM XML file (plain or compressed) as a stream, before pyosmium reads it.

    pyosmium's XML reader buffers an element whole (a 1.5 GB tag value in a 5 KB ``.bz2`` grew
    for minutes), reads ``lat="1e308"`` as 0 and stops at ``lat="NaN"`` without naming the
    node. Here the decompressed text is read in chunks and refused, naming the bound or the
    node, if it is longer than ``settings.max_osm_xml_mb``, if any element or text between
    two elements is longer than ``settings.max_osm_xml_element_kb``, or if a node's latitude
    or longitude is not a finite number within range.

    Parameters
    ----------
    path
        An ``.osm``, ``.osm.xml``, ``.osm.bz2`` or ``.osm.gz`` file.

    Returns
    -------
    int
        Bytes of XML read.
    """
    max_bytes = int(settings.max_osm_xml_mb * 1024**2)
    max_element = int(settings.max_osm_xml_element_kb * 1024)
    carry = b""  # the text from the last '<' on: an element not complete yet
    read = 0
    try:
        with _open_xml(path) as stream:
            while chunk := stream.read(SCAN_CHUNK):
                read += len(chunk)
                if read > max_bytes:
                    msg = (
                        f"{path}: over {settings.max_osm_xml_mb:,g} MB of OSM XML "
                        "(quarterhour.settings.max_osm_xml_mb, --max-osm-xml-mb on the command "
                        "line); give a smaller extract, or a .osm.pbf"
                    )
                    raise InputError(msg)
                text = carry + chunk
                starts = np.flatnonzero(np.frombuffer(text, dtype=np.uint8) == ord("<"))
                bounds = np.concatenate([[0], starts, [len(text)]])
                longest = int(np.argmax(np.diff(bounds)))
                if bounds[longest + 1] - bounds[longest] > max_element:
                    at = read - len(text) + int(bounds[longest])
                    msg = (
                        f"{path}: an element or text of over {settings.max_osm_xml_element_kb:,g} "
                        f"KB at byte {at:,} of the XML (quarterhour.settings."
                        "max_osm_xml_element_kb); is it OSM XML?"
                    )
                    raise InputError(msg)
                cut = int(starts[-1]) if len(starts) else len(text)
                _check_coordinates(text[:cut], path)
                carry = text[cut:]
            _check_coordinates(carry, path)
    except InputError:
        raise
    except (OSError, EOFError, ValueError) as error:  # a corrupt .bz2 or .gz
        msg = f"{path}: cannot read OSM data ({error}); is the file truncated or not OSM?"
        raise InputError(msg) from error
    return read


def _check_coordinates(text: bytes, path: Path) -> None:
    """Raise InputError naming the first node of ``text`` whose lat or lon is bad."""
    for name, pattern in _COORDINATE.items():
        values = pattern.findall(text)
        if not values:
            continue
        try:
            numbers = np.array(values).astype(np.float64)
        except ValueError:
            numbers = None
        if numbers is not None and (np.abs(numbers) <= _LIMITS[name]).all():
            continue
        for node in _NODE.finditer(text):
            _check_node(node.group(), path)


def _check_node(element: bytes, path: Path) -> None:
    node_id = _NODE_ID.search(element)
    where = f"node {node_id.group(1).decode(errors='replace')}" if node_id else "a node"
    for name, pattern in _COORDINATE.items():
        match = pattern.search(element)
        if match is None:
            continue
        text = match.group(1).decode(errors="replace")
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not abs(value) <= _LIMITS[name]:  # NaN too
            msg = (
                f"{path}: {where}: {name}={text[:40]!r} is not a {_WORDS[name]} within "
                f"±{_LIMITS[name]:g} degrees"
            )
            raise InputError(msg)


@contextmanager
def _libosmium_errors(path: Path) -> Iterator[None]:
    """Turn what libosmium raises on a bad file into InputError naming it."""
    try:
        yield
    except (RuntimeError, ValueError, osmium.InvalidLocationError) as error:
        if isinstance(error, InputError):
            raise
        # A truncated file, a tag value over 1,024 characters, a coordinate it cannot read.
        reason = str(error)
        if "too long" in reason:
            reason += ": libosmium reads keys, values and names of up to 1,024 characters"
        msg = f"{path}: cannot read OSM data ({reason}); is the file truncated or not OSM?"
        raise InputError(msg) from error


def _check_missing(location: osmium.osm.Location, ref: int, path: Path) -> None:
    """Raise InputError if a node without a valid location is in the file (out of range)."""
    if location.x != UNDEFINED_COORDINATE:
        msg = (
            f"{path}: node {ref}: location ({location.x / 1e7:g}, {location.y / 1e7:g}) is not "
            "a longitude within ±180 and a latitude within ±90 degrees"
        )
        raise InputError(msg)


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
    if path.name.lower().endswith(XML_SUFFIXES):
        check_osm_xml(path)
    node_ids: list[int] = []
    xs: list[int] = []
    ys: list[int] = []
    piece_starts: list[int] = []
    n_ways = 0
    n_missing = 0
    bar = progress_bar(total=None, desc=f"reading {path.name}", unit="ways", quiet=quiet)
    with bar, _libosmium_errors(path):
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
                    _check_missing(location, node.ref, path)
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
