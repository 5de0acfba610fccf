"""Hostile OpenStreetMap files: one clear error naming the node or the bound, never a traceback.

Each file is generated here, a few KB on disk: coordinates that are NaN, infinite, empty, out of
range or ``1e308`` (which libosmium reads as 0), a tag value over libosmium's 1,024 characters,
a ``.osm.bz2`` of 4 KB that decompresses to one 1.6 GB tag value, a corrupt ``.bz2``. They are read in
this process, and by ``quarterhour network`` and ``quarterhour serve --osm`` with their address
space capped.
"""

from __future__ import annotations

import bz2
import re
import sys
import time
from typing import TYPE_CHECKING

import pytest
from servers import one_line_errors, serve_command

from quarterhour import settings
from quarterhour.api.http.serving import free_port
from quarterhour.geo.errors import InputError
from quarterhour.routing.osm import read_walkable_ways

if TYPE_CHECKING:
    from pathlib import Path

MEMORY_CAP_MB = 2_048


def _osm(lat: str = "31.0", value: str = "residential") -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6" generator="test">
 <node id="1" lat="{lat}" lon="121.0"/>
 <node id="2" lat="31.001" lon="121.0"/>
 <node id="3" lat="31.002" lon="121.001"/>
 <way id="10"><nd ref="1"/><nd ref="2"/><nd ref="3"/><tag k="highway" v="{value}"/></way>
</osm>
""".encode()


def _bomb(path: Path, megabytes: int = 1_600) -> Path:
    """A .osm.bz2 of a few KB holding one tag value of ``megabytes`` MB.

    bzip2 streams may follow one another in a file: one stream of 16 MB of "a", compressed
    once, is repeated.
    """
    head = b'<?xml version="1.0"?>\n<osm version="0.6">\n <node id="1" lat="31" lon="121">'
    run = bz2.compress(b"a" * (16 << 20), 9)
    tail = bz2.compress(b'"/></node>\n</osm>\n')
    path.write_bytes(bz2.compress(head + b'<tag k="name" v="') + run * (megabytes // 16) + tail)
    return path


BAD_COORDINATES = {
    "NaN": "node 1: lat='NaN' is not a latitude within ±90 degrees",
    "inf": "node 1: lat='inf'",
    "": "node 1: lat=''",
    "91.5": "node 1: lat='91.5'",
    "1e308": "node 1: lat='1e308'",
    "-1e-400x": "node 1: lat='-1e-400x'",
}


@pytest.mark.parametrize("lat", list(BAD_COORDINATES))
@pytest.mark.parametrize("suffix", [".osm", ".osm.bz2"])
def test_a_bad_coordinate_names_its_node(tmp_path: Path, lat: str, suffix: str) -> None:
    path = tmp_path / f"bad{suffix}"
    data = _osm(lat=lat)
    path.write_bytes(bz2.compress(data) if suffix.endswith(".bz2") else data)
    with pytest.raises(InputError, match="^" + re.escape(f"{path}: {BAD_COORDINATES[lat]}")):
        read_walkable_ways(path)


def test_a_good_file_reads(tmp_path: Path) -> None:
    path = tmp_path / "good.osm"
    path.write_bytes(_osm())
    pieces = read_walkable_ways(path)
    assert pieces.lat.tolist() == [31.0, 31.001, 31.002]


def test_a_tag_value_over_libosmiums_limit_is_one_error(tmp_path: Path) -> None:
    path = tmp_path / "long.osm"
    path.write_bytes(_osm(value="x" * 1_100))
    with pytest.raises(InputError, match=r"tag value is too long: libosmium reads .* 1,024"):
        read_walkable_ways(path)


def test_a_bz2_bomb_is_refused_at_once(tmp_path: Path) -> None:
    path = _bomb(tmp_path / "bomb.osm.bz2")
    assert path.stat().st_size < 10_000
    started = time.monotonic()
    with pytest.raises(InputError, match=r"an element or text of over 64 KB at byte 75 "):
        read_walkable_ways(path)
    assert time.monotonic() - started < 30  # a bound far above the ~1 s it takes


def test_the_size_of_xml_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "big.osm.bz2"
    element = b' <node id="9" lat="31" lon="121"/>\n'
    path.write_bytes(bz2.compress(_osm()[:-7] + element * 40_000 + b"</osm>\n"))
    monkeypatch.setattr(settings, "max_osm_xml_mb", 1.0)
    with pytest.raises(InputError, match=r"over 1 MB of OSM XML \(quarterhour\.settings"):
        read_walkable_ways(path)


def test_a_corrupt_bz2_is_one_error(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.osm.bz2"
    path.write_bytes(bz2.compress(_osm())[:-40] + b"garbage")
    with pytest.raises(InputError, match="cannot read OSM data"):
        read_walkable_ways(path)


def test_the_command_line_and_serve_stop_with_one_line(tmp_path: Path) -> None:
    bomb = _bomb(tmp_path / "bomb.osm.bz2")
    long_tag = tmp_path / "long.osm"
    long_tag.write_bytes(_osm(value="x" * 1_100))
    network = [sys.executable, "-m", "quarterhour", "network", "--no-cache", "--osm"]
    commands = {
        bomb: [*network, str(bomb)],
        long_tag: serve_command(free_port(), "--workers", "1", "--osm", str(long_tag)),
    }
    errors = one_line_errors(commands, cache=tmp_path / "cache", memory_cap_mb=MEMORY_CAP_MB)
    for path, line in errors.items():
        assert line.startswith(f"quarterhour: error: {path}: "), line
    assert "an element or text of over 64 KB" in errors[bomb]
    assert "tag value is too long" in errors[long_tag]
