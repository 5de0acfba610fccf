"""Outputs through symbolic links, and the network cache kept within its size and age.

A plan folder or a file named by a symbolic link is written where the link points, atomically,
the link kept and no temporary left (the plan folder was replaced by a real folder while the
command reported failure, the link left behind as a temporary). Cached networks not used for
long, and the oldest past the folder's cap, are removed.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

import pytest

from quarterhour import settings
from quarterhour.geo.atomic import TEMPORARY_SUFFIX, atomic_folder, write_text
from quarterhour.routing import cache
from quarterhour.routing.network import load_network

if TYPE_CHECKING:
    from pathlib import Path

PLAN_FILES = frozenset({"summary.json", "plan.xlsx"})


def _no_temporaries(*folders: Path) -> None:
    for folder in folders:
        assert not [entry for entry in folder.iterdir() if entry.name.endswith(TEMPORARY_SUFFIX)]


def test_a_plan_folder_through_a_link_replaces_the_target(tmp_path: Path) -> None:
    real, link = tmp_path / "real", tmp_path / "link"
    with atomic_folder(real, replaceable=PLAN_FILES) as folder:
        (folder / "summary.json").write_text("first")
    link.symlink_to(real)
    with atomic_folder(link, replaceable=PLAN_FILES) as folder:
        (folder / "summary.json").write_text("second")
    assert link.is_symlink()
    assert (real / "summary.json").read_text() == "second"
    assert (link / "summary.json").read_text() == "second"
    _no_temporaries(tmp_path)


def test_a_failed_plan_through_a_link_leaves_the_old_one(tmp_path: Path) -> None:
    real, link = tmp_path / "real", tmp_path / "link"
    real.mkdir()
    (real / "summary.json").write_text("first")
    link.symlink_to(real)

    def write_half() -> None:
        with atomic_folder(link, replaceable=PLAN_FILES) as folder:
            (folder / "summary.json").write_text("half")
            raise RuntimeError

    with pytest.raises(RuntimeError):
        write_half()
    assert link.is_symlink()
    assert (real / "summary.json").read_text() == "first"
    _no_temporaries(tmp_path)


def test_a_file_through_links_is_written_at_their_end(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    target = tmp_path / "out" / "areas.geojson"
    target.write_text("old")
    (tmp_path / "first").symlink_to(tmp_path / "second")
    (tmp_path / "second").symlink_to(target)
    write_text(tmp_path / "first", "new")
    assert (tmp_path / "first").is_symlink()
    assert (tmp_path / "second").is_symlink()
    assert target.read_text() == "new"
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "out" / "later.geojson")
    write_text(dangling, "made")
    assert dangling.is_symlink()
    assert (tmp_path / "out" / "later.geojson").read_text() == "made"
    _no_temporaries(tmp_path, tmp_path / "out")


def test_the_cache_drops_old_networks_and_keeps_within_its_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = time.time()
    files = {}
    for name, days_unused, megabytes in [("old", 100, 1), ("a", 3, 2), ("b", 2, 2), ("c", 1, 2)]:
        path = tmp_path / f"{name}{cache.SUFFIX}"
        path.write_bytes(b"\0" * (megabytes << 20))
        os.utime(path, (now - days_unused * 86_400,) * 2)
        files[name] = path
    other = tmp_path / "notes.txt"
    other.write_text("not a cache file")
    monkeypatch.setattr(settings, "cache_max_age_days", 90.0)
    monkeypatch.setattr(settings, "cache_max_mb", 5.0)
    assert cache.prune(tmp_path, keep=files["a"]) == 2  # "old" by age, then "b" for the cap
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a.qhnet", "c.qhnet", "notes.txt"]


def test_loading_a_cached_network_marks_it_used(tmp_path: Path, data_dir: Path) -> None:
    extract = data_dir / "helsinki_clipped.osm.pbf"
    load_network(extract, use_cache=True, cache_folder=tmp_path)
    (cached,) = tmp_path.glob(f"*{cache.SUFFIX}")
    long_ago = time.time() - 30 * 86_400
    os.utime(cached, (long_ago, long_ago))
    load_network(extract, use_cache=True, cache_folder=tmp_path)
    assert cached.stat().st_mtime > long_ago + 29 * 86_400
