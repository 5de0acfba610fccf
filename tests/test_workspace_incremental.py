"""A scenario edited many times by hand answers exactly what its full evaluation answers.

The workspace keeps each scenario's nearest stations in arrays and its summary's parts per
project (area groups, static columns, texts checked), and updates them edit by edit. Here a
project of real compounds on the real network (Shanghai's centre) goes through many random
adds, moves and removes; after every edit each figure and table of the incremental summary, and
every community's status, station and walk time, must equal the full evaluation of the same
stations (the siting model's ``build_result`` on every community).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely

from quarterhour.api.workspace import projects
from quarterhour.api.workspace.edits import apply_edit
from quarterhour.api.workspace.engine import ProjectEngine, ProjectFiles, limit_of
from quarterhour.api.workspace.schemas import AddStation, MoveStation, StationOp
from quarterhour.geo.crs import convert
from quarterhour.geo.points import read_points

DATA = Path(__file__).resolve().parents[1] / "data"
EDITS = 60


def _files(folder: Path, *, whole_weights: bool) -> ProjectFiles:
    table = pd.read_csv(DATA / "shanghai_compounds_amap_gcj02.csv", dtype=str)
    lon, lat = table["lng"].astype(float), table["lat"].astype(float)
    inside = (lon > 121.44) & (lon < 121.50) & (lat > 31.20) & (lat < 31.25)
    picked = pd.concat([table[inside].iloc[:400], table[lon > 121.8].iloc[:5]])
    rng = np.random.default_rng(11)
    n = len(picked)
    weight = rng.integers(50, 4000, n) if whole_weights else np.round(rng.uniform(0, 900, n), 3)
    north = picked["lat"].astype(float).to_numpy() > 31.225
    names = picked["name"].to_numpy().copy()
    names[3] = "带\x07控制字符的小区"  # a text the outputs change: a warning
    communities = pd.DataFrame(
        {
            "序号": [f"C{k:03d}" for k in range(n)],
            "小区名称": names,
            "经度": picked["lng"].to_numpy(),
            "纬度": picked["lat"].to_numpy(),
            "常住人口": weight,
            # towns for most, a district only for some: groups of both levels
            "区": np.where(north, "静安区", "黄浦区"),
            "街镇": np.where(np.arange(n) % 7 == 0, "", np.where(north, "北片", "南片")),
        }
    )
    rows = table[inside].iloc[400:412]
    stations = pd.DataFrame(
        {
            "编号": [f"S{k}" for k in range(len(rows))],
            "站点名称": [f"就业服务站{k}" for k in range(len(rows))],
            "经度": rows["lng"].to_numpy(),
            "纬度": rows["lat"].to_numpy(),
        }
    )
    communities.to_csv(folder / "communities.csv", index=False)
    stations.to_csv(folder / "stations.csv", index=False)
    west, south = convert(np.asarray([121.435]), np.asarray([31.195]), src="gcj02", dst="wgs84")
    east, north_edge = convert(np.asarray([121.49]), np.asarray([31.26]), src="gcj02", dst="wgs84")
    return ProjectFiles(
        read_points(folder / "communities.csv", crs="gcj02", role="communities"),
        read_points(folder / "stations.csv", crs="gcj02", role="existing"),
        # the centre, less a strip east of 121.49; and the far east (off the streets)
        boundary=shapely.union(
            shapely.box(west[0], south[0], east[0], north_edge[0]),
            shapely.box(121.7, 30.9, 122.2, 31.6),
        ),
    )


OUTCOMES = {
    "audit": {"objective": "audit"},
    "plan": {
        "objective": "max_cover",
        "bound": 123456.5,
        "gap": None,
        "method": "heuristic, edited by hand",
        "seconds": 0.5,
        "budget": 4,
        "n_candidates": 100,
        "uncoverable": [2, 5, 400, 401, 402, 403, 404],  # the last: off the streets
        "edited": True,
    },
}


@pytest.mark.parametrize(
    ("whole_weights", "outcome"),
    [(True, "audit"), (False, "audit"), (False, "plan")],
    ids=["whole-weights", "fractional-weights", "planned"],
)
def test_random_edits_keep_every_figure_of_the_full_evaluation(
    network_of, tmp_path, whole_weights: bool, outcome: str
) -> None:
    network = network_of("shanghai_center")
    files = _files(tmp_path, whole_weights=whole_weights)
    engine = ProjectEngine(network, files, limit_of({"minutes": 10}))
    how = OUTCOMES[outcome]
    stations = projects.today_stations(files)
    kept = engine.version(("s", 1), stations, how)
    homes = files.communities
    rng = np.random.default_rng(5)
    seen = {"add": 0, "move": 0, "remove": 0, "warned": 0, "by_area": 0}
    for step in range(EDITS):
        ids = [str(s["id"]) for s in stations]
        op = ("add", "move", "remove")[int(rng.integers(3))] if len(ids) > 2 else "add"
        pick = int(rng.integers(len(homes)))
        if step == EDITS - 3:  # a name the outputs change: the full evaluation's warnings
            edit = AddStation(op="add", community_id=str(homes.ids[pick]), name="新\x07站")
        elif op == "add" and step % 2:
            edit = AddStation(op="add", community_id=str(homes.ids[pick]))
        elif op == "add":  # a street point near a community (some end up outside the area)
            lon = float(homes.lon[pick]) + float(rng.normal(0, 0.002))
            lat = float(homes.lat[pick]) + float(rng.normal(0, 0.002))
            edit = AddStation(op="add", lon=lon, lat=lat)
        elif op == "move":
            edit = MoveStation(
                op="move",
                station_id=ids[int(rng.integers(len(ids)))],
                lon=float(homes.lon[pick]),
                lat=float(homes.lat[pick]),
            )
        else:
            edit = StationOp(op="remove", station_id=ids[int(rng.integers(len(ids)))])
        stations, _, touched = apply_edit(engine, stations, [], edit, max_stations=1000)
        kept, summary = engine.edited(kept, stations, touched, how)
        full = engine.evaluate(stations, how)
        assert summary == full.summary, (step, edit)
        table = full.assignments
        status = table["status"].astype(str).to_numpy()
        assert (kept.arrays["status"] == status).all(), (step, edit)
        covered = np.isin(status, ("covered_existing", "covered_new"))
        station = table["station_id"].fillna("").astype(str).to_numpy()
        assert (kept.arrays["station"][covered] == station[covered]).all(), (step, edit)
        walk = table["walk_min"].to_numpy(float)
        assert np.array_equal(kept.arrays["walk_min"][covered], walk[covered]), (step, edit)
        seen[op] += 1
        seen["warned"] += any("U+FFFD" in text for text in summary["warnings"])
        seen["by_area"] += sum(row["new_stations"] for row in summary["by_area"]) > 0
    assert min(seen["add"], seen["move"], seen["remove"]) >= 10
    assert seen["warned"] == EDITS  # the community's control character, every time
    assert seen["by_area"] > 0
    levels = {row["level"] for row in summary["by_area"]}
    assert levels == {"town", "district"}
    assert summary["status_counts"]["outside_boundary"] > 0
    assert summary["status_counts"]["off_network"] > 0
    assert any(text.startswith("stations:") for text in summary["warnings"])


def test_an_engine_answers_the_same_from_its_packed_files(
    network_of, tmp_path, monkeypatch
) -> None:
    """Once the worker has let go of its unpacked parts (files as read, texts, site tables,
    targets' index) an engine answers as before, and its reaches packed in one block answer as
    reaches kept one by one; the same goes for an edit after that."""
    from quarterhour.api.workspace import engine as engine_module
    from quarterhour.api.workspace import reaches

    network = network_of("shanghai_center")
    files = _files(tmp_path, whole_weights=False)
    limit = limit_of({"minutes": 10})
    how = OUTCOMES["plan"]
    stations = projects.today_stations(files)
    assert len(stations) >= reaches.MIN_BLOCK  # the first evaluation's reaches: one block
    engine = ProjectEngine(network, files, limit)
    first = engine.evaluate(stations, how)
    kept = engine.version(("s", 1), stations, how)
    engine_module._UNPACKED.drop(lambda _: False)
    again = engine.evaluate(stations, how)
    monkeypatch.setattr(reaches, "MIN_BLOCK", 10**9)
    one_by_one = ProjectEngine(network, files, limit).evaluate(stations, how)
    for other in (again, one_by_one):
        pd.testing.assert_frame_equal(other.assignments, first.assignments)
        pd.testing.assert_frame_equal(other.stations, first.stations)
        assert other.summary == first.summary
    pd.testing.assert_frame_equal(engine.homes.table, files.communities.table)
    engine_module._UNPACKED.drop(lambda _: False)
    homes = files.communities
    edit = AddStation(op="add", community_id=str(homes.ids[7]))
    stations, _, touched = apply_edit(engine, stations, [], edit, max_stations=1000)
    _, summary = engine.edited(kept, stations, touched, how)
    assert summary == engine.evaluate(stations, how).summary
    assert engine.nbytes < files.communities.table.memory_usage(deep=True).sum()
