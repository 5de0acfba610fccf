"""The planners' workspace at city scale: upload, hand edits and memory on the mosaic.

On the city mosaic of ``bench_city.py`` (Heidelberg's streets tiled 4 x 4, Shanghai's area), a
planner's list of 20,000 communities (an xlsx with Chinese headers, the mosaic's 16 tiles as
街镇) with about 2,650 existing stations (the minimum cover of the list, planned here first) is
uploaded to ``quarterhour serve --workers 1`` over HTTP, then:

- upload: ``POST /api/projects`` until 201, then ``GET`` of the scenario (every community's
  status, station and walk time: what the page draws);
- edits: adds at random street points, moves of random stations by up to 300 m, removals,
  each with ``If-Match``; the server's own time (``Server-Timing``) and the client's round trip,
  p50 and p99, against the peer in the same run: the full evaluation of the scenario after each
  edit (``GET``, the siting model's ``build_result`` on every community);
- memory: the worker's resident memory before the first project, after it, and after each
  further one up to ``--projects`` (each a copy of the list: its engine, reaches and
  evaluation); per further project over all of them, and once the worker's fixed caches are
  full (the 4 evaluations it keeps, the 3 projects it keeps unpacked): what a project adds.

Usage::

    python benchmarks/bench_workspace.py [--points 20000] [--edits 100] [--projects 50]
                                         [--memory-budget-mb 2048] [--cache DIR]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_city import mosaic, street_points
from bench_isochrone_api import cache_root, free_port, tree_pids, wait_for


def rss_mib(pid: int) -> float:
    """Resident memory of a process tree, MiB."""
    total = 0.0
    for member in tree_pids(pid):
        try:
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
        except OSError:
            continue
    return total


def planner_files(osm: Path, folder: Path, *, points: int) -> tuple[Path, Path, int]:
    """The communities' xlsx (Chinese headers) and the existing stations' CSV (a min cover)."""
    import pandas as pd

    from quarterhour.routing.network import load_network
    from quarterhour.siting.model import CoverageModel

    network = load_network(osm)
    lon, lat = street_points(network, points, seed=1)
    rng = np.random.default_rng(3)
    west, south = float(lon.min()), float(lat.min())
    tile = (np.floor((lon - west) / ((lon.max() - west) / 4 + 1e-9)) * 4) + np.floor(
        (lat - south) / ((lat.max() - south) / 4 + 1e-9)
    )
    communities = pd.DataFrame(
        {
            "序号": [f"C{k:05d}" for k in range(points)],
            "小区名称": [f"小区{k}" for k in range(points)],
            "经度": np.round(lon, 7),
            "纬度": np.round(lat, 7),
            "常住人口": rng.integers(200, 5000, points),
            "街镇": [f"街道{int(t):02d}" for t in tile],
        }
    )
    started = time.perf_counter()
    homes = pd.DataFrame({"id": communities["序号"], "lon": lon, "lat": lat})
    plan = CoverageModel.from_points(network, homes, minutes=15, crs="wgs84").solve()
    new = plan.new_stations
    seconds = time.perf_counter() - started
    print(f"  existing stations: the min cover of the list, {len(new):,} ({seconds:.1f} s)")
    stations = pd.DataFrame(
        {
            "编号": [f"S{k:04d}" for k in range(len(new))],
            "站点名称": [f"服务站{k}" for k in range(len(new))],
            "经度": np.round(new["lon"].to_numpy(float) + 0.0003, 7),
            "纬度": np.round(new["lat"].to_numpy(float), 7),
        }
    )
    xlsx, csv = folder / "社区名单.xlsx", folder / "站点.csv"
    communities.to_excel(xlsx, index=False)
    communities.to_csv(xlsx.with_suffix(".csv"), index=False)
    stations.to_csv(csv, index=False)
    return xlsx, csv, len(new)


def server_ms(answer: object) -> float:
    """The ``Server-Timing`` duration of an answer, ms."""
    return float(answer.headers["server-timing"].split("dur=")[1])


def percentiles(values: list[float]) -> str:
    array = np.asarray(values)
    return f"p50 {np.percentile(array, 50):7.1f} ms, p99 {np.percentile(array, 99):7.1f} ms"


def main(argv: list[str] | None = None) -> int:
    import httpx

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=20_000)
    parser.add_argument("--edits", type=int, default=100, help="edits of each kind")
    parser.add_argument("--cache", type=Path, default=None)
    parser.add_argument("--projects", type=int, default=8, help="projects open at the end")
    parser.add_argument("--memory-budget-mb", type=int, default=2048, help="the server's budget")
    parser.add_argument(
        "--residents-per-aide",
        type=float,
        default=None,
        help="also a capacitated project (1-2 aides a station): upload and edits",
    )
    args = parser.parse_args(argv)
    osm, _ = mosaic(args.cache or cache_root())
    print(f"workspace on {osm.name} ({os.cpu_count()} CPUs)")
    with tempfile.TemporaryDirectory(prefix="bench-workspace-") as temporary:
        folder = Path(temporary)
        xlsx, csv, n_stations = planner_files(osm, folder, points=args.points)
        port = free_port()
        command = [sys.executable, "-m", "quarterhour", "serve", "--osm", str(osm), "-q"]
        command += ["--port", str(port), "--workers", "1", "--data-dir", str(folder / "data")]
        command += ["--memory-budget-mb", str(args.memory_budget_mb)]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for(port, "/health", timeout_s=900, process=process)
            url = f"http://127.0.0.1:{port}"
            run(url, process.pid, xlsx, csv, n_stations=n_stations, edits=args.edits, httpx=httpx)
            if args.residents_per_aide is not None:
                capacitated(url, xlsx, csv, rate=args.residents_per_aide, edits=args.edits)
            grow(url, process.pid, xlsx, csv, projects=args.projects, httpx=httpx)
            print(
                f"  the engines' bound: a quarter of the {args.memory_budget_mb} MiB budget; "
                f"load average {os.getloadavg()[0]:.1f}"
            )
        finally:
            process.terminate()
            process.wait(timeout=60)
    return 0


def capacitated(url: str, xlsx: Path, csv: Path, *, rate: float, edits: int) -> None:
    """A capacitated project: upload, then aides, add, move and remove edits (server times).

    Every edit of a capacitated scenario solves its assignment again (HiGHS), as ``quarterhour
    coverage --residents-per-aide`` does; the uncapacitated project's edits are the peer.
    """
    import httpx

    rng = np.random.default_rng(11)
    with httpx.Client(timeout=600) as client:
        form = {"residents_per_aide": str(rate), "max_aides": "2"}
        project, created, shown = _upload(client, url, xlsx, csv, form=form)
        base = f"{url}/api/projects/{project['id']}/scenarios/{project['scenarios'][0]['id']}"
        body = client.get(base).json()
        counts = body["summary"]["status_counts"]
        print(
            f"  capacitated ({rate:,.0f} residents per aide): 201 in {created:.2f} s, every status "
            f"on screen at {shown:.2f} s; over capacity {counts['over_capacity']:,}, "
            f"aides {body['summary']['staffing']['aides']:,}"
        )
        version, ids = body["version"], [row["id"] for row in body["stations"]]
        lon = np.asarray([row["lon"] for row in body["communities"]])
        lat = np.asarray([row["lat"] for row in body["communities"]])
        times: dict[str, list[float]] = {}
        for _ in range(max(edits // 10, 2)):
            for op in ("aides", "add", "move", "remove"):
                pick = int(rng.integers(lon.size))
                station = ids[int(rng.integers(len(ids)))]
                edit: dict[str, object] = {"op": op, "station_id": station}
                if op == "aides":
                    edit["aides"] = 2
                elif op in ("add", "move"):
                    edit |= {"lon": float(lon[pick]), "lat": float(lat[pick])}
                    if op == "add":
                        del edit["station_id"]
                else:
                    ids.remove(station)
                answer = client.post(f"{base}/edits", json=edit, headers={"If-Match": str(version)})
                assert answer.status_code == 200, answer.text
                version = answer.json()["version"]
                times.setdefault(op, []).append(server_ms(answer))
        every = [value for values in times.values() for value in values]
        kinds = ", ".join(f"{op} p50 {np.median(values):.0f} ms" for op, values in times.items())
        print(f"  capacitated edits (server): {percentiles(every)} ({kinds})")


def _upload(
    client: object, url: str, xlsx: Path, csv: Path, *, form: dict[str, str] | None = None
) -> tuple[dict, float, float]:
    started = time.perf_counter()
    answer = client.post(
        f"{url}/api/projects",
        data={"crs": "wgs84"} | (form or {}),
        files={
            "communities": (xlsx.name, xlsx.read_bytes()),
            "existing": (csv.name, csv.read_bytes()),
        },
    )
    assert answer.status_code == 201, answer.text
    created = time.perf_counter() - started
    project = answer.json()
    sid = project["scenarios"][0]["id"]
    scenario = client.get(f"{url}/api/projects/{project['id']}/scenarios/{sid}")
    assert scenario.status_code == 200
    return project, created, time.perf_counter() - started


def run(
    url: str, pid: int, xlsx: Path, csv: Path, *, n_stations: int, edits: int, httpx: object
) -> None:
    rng = np.random.default_rng(5)
    with httpx.Client(timeout=600) as client:
        before = rss_mib(pid)
        project, created, shown = _upload(client, url, xlsx, csv)
        after_one = rss_mib(pid)
        print(
            f"  upload {xlsx.stat().st_size / 1e6:.1f} MB xlsx, {n_stations:,} stations: "
            f"201 in {created:.2f} s, every status on screen (GET) at {shown:.2f} s (goal 5 s)"
        )
        base = f"{url}/api/projects/{project['id']}/scenarios/{project['scenarios'][0]['id']}"
        body = client.get(base).json()
        version = body["version"]
        ids = [row["id"] for row in body["stations"]]
        lon = np.asarray([row["lon"] for row in body["communities"]])
        lat = np.asarray([row["lat"] for row in body["communities"]])
        times: dict[str, list[float]] = {"add": [], "move": [], "remove": []}
        trips: dict[str, list[float]] = {"add": [], "move": [], "remove": []}
        full: list[float] = []
        for k in range(edits):
            for op in ("add", "move", "remove"):
                pick = int(rng.integers(lon.size))
                if op == "add":
                    edit = {"op": "add", "lon": float(lon[pick]), "lat": float(lat[pick])}
                else:
                    station = ids.pop(int(rng.integers(len(ids))))
                    edit = {"op": op, "station_id": station}
                    if op == "move":
                        edit |= {"lon": float(lon[pick]), "lat": float(lat[pick])}
                        ids.append(station)
                started = time.perf_counter()
                answer = client.post(f"{base}/edits", json=edit, headers={"If-Match": str(version)})
                trips[op].append(1e3 * (time.perf_counter() - started))
                assert answer.status_code == 200, answer.text
                times[op].append(server_ms(answer))
                version = answer.json()["version"]
                if op == "add":
                    ids.append(answer.json()["changed"]["stations"][0]["id"])
            if k % 10 == 0:  # the peer: the full evaluation of the same scenario
                full.append(server_ms(client.get(base)))
        every = [value for values in times.values() for value in values]
        for op, values in times.items():
            print(
                f"  edit {op:<6} server {percentiles(values)}; round trip {percentiles(trips[op])}"
            )
        print(f"  every edit   server {percentiles(every)} (goal p50 50, p99 200)")
        print(
            f"  peer: full evaluation (GET) server {percentiles(full)}; "
            f"ratio p50 {np.percentile(every, 50) / np.percentile(full, 50):.3f}"
        )
        as_csv = xlsx.with_suffix(".csv")
        _, created_csv, shown_csv = _upload(client, url, as_csv, csv)
        print(
            f"  the same list as a UTF-8 CSV: 201 in {created_csv:.2f} s, every status at "
            f"{shown_csv:.2f} s (the rest of the xlsx's time is reading the workbook)"
        )
        print(
            f"  memory (RSS of the server): {before:.0f} MiB before, "
            f"+{after_one - before:.0f} MiB with one project"
        )
        print(f"  load average after the run: {os.getloadavg()[0]:.1f}")


FILLED = 8
"""Projects open once the worker's fixed caches are full (4 kept evaluations, 3 projects
unpacked): the growth from there on is what each further project holds."""


def grow(url: str, pid: int, xlsx: Path, csv: Path, *, projects: int, httpx: object) -> None:
    """Open projects until ``projects`` are open; print the server's memory after each."""
    with httpx.Client(timeout=600) as client:
        count = len(client.get(f"{url}/api/projects").json()["projects"])
        start = rss_mib(pid)
        rss = {count: start}
        for opened in range(count + 1, projects + 1):
            _upload(client, url, xlsx, csv)
            rss[opened] = rss_mib(pid)
            print(f"    {opened} projects: RSS {rss[opened]:.0f} MiB")
        last = max(rss)
        added = max(last - count, 1)
        print(
            f"  memory per further project: +{(rss[last] - start) / added:.1f} MiB "
            f"over {last - count} ({last} open, RSS {rss[last]:.0f} MiB)"
        )
        if last > FILLED > count:
            print(
                f"  once the worker's fixed caches are full ({FILLED} open): "
                f"+{(rss[last] - rss[FILLED]) / (last - FILLED):.1f} MiB a project over "
                f"{last - FILLED} (goal: a few MB)"
            )


if __name__ == "__main__":
    raise SystemExit(main())
