"""City-scale benchmark: Heidelberg tiled 4 x 4 into a Shanghai-sized mosaic, against Valhalla.

The mosaic is built from ``data/heidelberg.osm.pbf`` (real streets): the extract's core (the
1st to 99th percentile of its node coordinates, about 19 x 18 km) is copied 4 x 4 side by side
(about 76 x 72 km, 5,500 km2, the area of Shanghai), ways are clipped to the core so that the
copies do not overlap, and the borders are stitched: across every seam, walkable nodes within
200 m of it are joined by footways to the nearest walkable node on the other side (at most
400 m apart, one every 200 m along the seam), so one walk can cross the whole city. It is
written once to a cache folder outside the repository (``$XDG_CACHE_HOME/quarterhour-bench``,
or ``--cache``) and reused.

Then, on the mosaic (and, with ``--networks heidelberg city``, on Heidelberg too), every figure
is measured in this run and printed beside Valhalla's, with the ratio:

- network build from PBF (quarterhour) and tile build (Valhalla's ``valhalla_build_tiles``);
- cached reload (memory-mapped);
- walk times between 20,000 and 20,000 points within 15 minutes;
- a plan (minimum cover) for 20,000 communities;
- isochrone latency (p50, p99) and throughput at 1, 8 and 32 clients, quarterhour with
  ``--workers 1`` and ``2`` against Valhalla with as many threads, interleaved (see
  ``bench_isochrone_api.py``), with CPU per request, first vs tenth request and PSS.

Usage::

    python benchmarks/bench_city.py [--networks heidelberg city] [--rounds 3] [--requests 2000]
        [--points 20000] [--cache DIR] [--no-valhalla]
    python benchmarks/bench_city.py --capacity [--profile]

``--capacity``: only a capacitated plan of the 20,000 communities on the mosaic (100-2,400
residents each, 10,000 per aide, 1-2 aides), with its bound, again with ``time_limit=15``, and
HiGHS' LP relaxation alone beside them.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_isochrone_api import HEIDELBERG, bench_service, cache_root, valhalla_tiles

MOSAIC_VERSION = 1
TILES = 4
SEAM_BAND_M = 200.0
SEAM_REACH_M = 400.0
SEAM_SPACING_M = 200.0
METRES_PER_DEGREE = 111_320.0


def _read_extract(
    path: Path,
) -> tuple[dict[int, tuple[float, float]], list[tuple[dict, list[int]]]]:
    import osmium

    nodes: dict[int, tuple[float, float]] = {}
    ways: list[tuple[dict, list[int]]] = []
    for item in osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY):
        if item.is_node():
            nodes[item.id] = (item.location.lon, item.location.lat)
        elif "highway" in item.tags or item.tags.get("route") == "ferry":
            ways.append(({tag.k: tag.v for tag in item.tags}, [ref.ref for ref in item.nodes]))
    return nodes, ways


def build_mosaic(source: Path, target: Path, *, tiles: int = TILES) -> dict[str, object]:
    """Write the ``tiles`` x ``tiles`` stitched mosaic of ``source`` to ``target`` (PBF)."""
    import osmium
    from scipy.spatial import cKDTree

    from quarterhour.routing.osm import is_walkable

    nodes, ways = _read_extract(source)
    ids = np.fromiter(nodes, dtype=np.int64, count=len(nodes))
    lonlat = np.array([nodes[i] for i in ids])
    lon_lo, lon_hi = np.percentile(lonlat[:, 0], [1, 99])
    lat_lo, lat_hi = np.percentile(lonlat[:, 1], [1, 99])
    inside = {
        int(i)
        for i, (x, y) in zip(ids, lonlat, strict=True)
        if lon_lo <= x <= lon_hi and lat_lo <= y <= lat_hi
    }
    # Clip every way to the core: the runs of its nodes inside, of two nodes or more.
    pieces: list[tuple[dict, list[int]]] = []
    for tags, refs in ways:
        run: list[int] = []
        for ref in [*refs, None]:
            if ref is not None and ref in inside and ref in nodes:
                run.append(ref)
                continue
            if len(run) >= 2:
                pieces.append((tags, run))
            run = []
    used = sorted({ref for _, refs in pieces for ref in refs})
    index = {ref: k for k, ref in enumerate(used)}
    base = np.array([nodes[ref] for ref in used])
    n_nodes, n_ways = len(used), len(pieces)
    width, height = lon_hi - lon_lo, lat_hi - lat_lo
    walkable = np.zeros(n_nodes, dtype=bool)
    for tags, refs in pieces:
        if is_walkable(tags):
            walkable[[index[ref] for ref in refs]] = True

    def node_id(tile: int, k: int | np.ndarray) -> int | np.ndarray:
        return tile * n_nodes + k + 1

    # Seams: join walkable nodes across each border between neighbouring tiles.
    cos_lat = np.cos(np.radians(0.5 * (lat_lo + lat_hi)))
    metres = np.column_stack(
        [base[:, 0] * METRES_PER_DEGREE * cos_lat, base[:, 1] * METRES_PER_DEGREE]
    )
    width_m, height_m = width * METRES_PER_DEGREE * cos_lat, height * METRES_PER_DEGREE
    lo_m = np.array([lon_lo * METRES_PER_DEGREE * cos_lat, lat_lo * METRES_PER_DEGREE])
    local = metres - lo_m  # metres from the core's south-west corner
    links: list[tuple[int, int]] = []
    for axis, extent in ((0, width_m), (1, height_m)):
        # Left/bottom tile: nodes near its far side; right/top tile: near its near side.
        near_far = np.flatnonzero(walkable & (local[:, axis] >= extent - SEAM_BAND_M))
        near_near = np.flatnonzero(walkable & (local[:, axis] <= SEAM_BAND_M))
        shifted = local[near_near].copy()
        shifted[:, axis] += extent
        tree = cKDTree(shifted)
        distance, nearest = tree.query(local[near_far], distance_upper_bound=SEAM_REACH_M)
        order = np.argsort(distance)
        taken: list[float] = []
        pairs = []
        for k in order:
            if not np.isfinite(distance[k]):
                break
            along = local[near_far[k], 1 - axis]
            if any(abs(along - other) < SEAM_SPACING_M for other in taken):
                continue
            taken.append(along)
            pairs.append((near_far[k], near_near[nearest[k]]))
        for i in range(tiles):
            for j in range(tiles):
                tile = j * tiles + i
                neighbour = (j * tiles + i + 1) if axis == 0 else ((j + 1) * tiles + i)
                if (axis == 0 and i == tiles - 1) or (axis == 1 and j == tiles - 1):
                    continue
                links += [(node_id(tile, a), node_id(neighbour, b)) for a, b in pairs]

    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_suffix(".tmp.pbf")
    temporary.unlink(missing_ok=True)
    writer = osmium.SimpleWriter(str(temporary))
    try:
        for j in range(tiles):
            for i in range(tiles):
                tile = j * tiles + i
                shifted = base + np.array([i * width, j * height])
                for k in range(n_nodes):
                    writer.add_node(
                        osmium.osm.mutable.Node(
                            id=int(node_id(tile, k)), location=(shifted[k, 0], shifted[k, 1])
                        )
                    )
        way_id = 0
        for tile in range(tiles * tiles):
            for tags, refs in pieces:
                way_id += 1
                writer.add_way(
                    osmium.osm.mutable.Way(
                        id=way_id,
                        nodes=[int(node_id(tile, index[ref])) for ref in refs],
                        tags=tags,
                    )
                )
        for a, b in links:
            way_id += 1
            writer.add_way(
                osmium.osm.mutable.Way(
                    id=way_id, nodes=[int(a), int(b)], tags={"highway": "footway", "mosaic": "seam"}
                )
            )
    finally:
        writer.close()
    temporary.replace(target)
    return {
        "version": MOSAIC_VERSION,
        "tiles": tiles,
        "osm_nodes": tiles * tiles * n_nodes,
        "osm_ways": tiles * tiles * n_ways + len(links),
        "seam_footways": len(links),
        "tile_degrees": [width, height],
        "area_km2": (tiles * width_m / 1000) * (tiles * height_m / 1000),
    }


def mosaic(cache: Path, *, tiles: int = TILES) -> tuple[Path, dict[str, object]]:
    """The mosaic PBF, built on first use."""
    target = cache / f"heidelberg-mosaic-{tiles}x{tiles}.osm.pbf"
    sidecar = target.with_suffix(".json")
    if target.is_file() and sidecar.is_file():
        about = json.loads(sidecar.read_text())
        if about.get("version") == MOSAIC_VERSION:
            return target, about
    started = time.perf_counter()
    about = build_mosaic(HEIDELBERG, target, tiles=tiles)
    about["build_s"] = time.perf_counter() - started
    sidecar.write_text(json.dumps(about))
    return target, about


def street_points(network, n: int, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points near the streets: random nodes moved up to 50 m (WGS84)."""
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, network.n_nodes, n)
    x = network.node_x[pick] + rng.uniform(-50, 50, n)
    y = network.node_y[pick] + rng.uniform(-50, 50, n)
    return network.projection.inverse(x, y)


def bench_offline(osm: Path, *, points: int, label: str, workdir: Path, valhalla: bool) -> None:
    """Build, reload, walk times and a plan; Valhalla's tile build beside the build."""
    import pandas as pd

    from quarterhour.routing.network import build_network, load_network
    from quarterhour.routing.walktimes import walk_time_matrix
    from quarterhour.siting.model import CoverageModel

    print(f"\n{label}: building and planning on {os.cpu_count()} CPUs")
    started = time.perf_counter()
    network = build_network(osm)
    build_s = time.perf_counter() - started
    print(f"  {network.describe()}")
    tile_s = None
    if valhalla:
        # A fresh tile folder, so that the anchor builds the tiles (and we time it).
        name = "".join(c if c.isalnum() else "_" for c in osm.name)
        shutil.rmtree(workdir / f"tiles-{name}", ignore_errors=True)
        _, tile_s = valhalla_tiles(osm, workdir)
    with tempfile.TemporaryDirectory() as folder:
        load_network(osm, cache_folder=folder)
        started = time.perf_counter()
        reloaded = load_network(osm, cache_folder=folder)
        reload_s = time.perf_counter() - started
        assert reloaded.n_edges == network.n_edges
        del reloaded

    src_lon, src_lat = street_points(network, points, seed=1)
    dst_lon, dst_lat = street_points(network, points, seed=2)
    walk_time_matrix(
        network, src_lon[:200], src_lat[:200], dst_lon, dst_lat, minutes=15, quiet=True
    )
    started = time.perf_counter()
    times = walk_time_matrix(network, src_lon, src_lat, dst_lon, dst_lat, minutes=15, quiet=True)
    walk_s = time.perf_counter() - started

    homes = pd.DataFrame({"id": [f"c{k}" for k in range(points)], "lon": src_lon, "lat": src_lat})
    started = time.perf_counter()
    model = CoverageModel.from_points(network, homes, minutes=15, crs="wgs84")
    model_s = time.perf_counter() - started
    started = time.perf_counter()
    model.solve()
    solve_s = time.perf_counter() - started
    summary = model.result.summary

    width = 46
    print(f"  {'measure':<{width}}{'quarterhour':>14}{'Valhalla':>12}{'ratio':>8}")
    ratio = f"{tile_s / build_s:.1f}x" if tile_s else ""
    valhalla_text = f"{tile_s:.1f} s" if tile_s else "-"
    print(
        f"  {'network build / tile build':<{width}}{build_s:>12.1f} s{valhalla_text:>12}{ratio:>8}"
    )
    print(f"  {'cached reload (memory-mapped)':<{width}}{reload_s * 1e3:>11.1f} ms")
    print(
        f"  {f'walk times {points:,} x {points:,}, 15 min':<{width}}{walk_s:>12.1f} s"
        f"   ({times.matrix.nnz:,} pairs within 15 minutes)"
    )
    print(
        f"  {f'plan for {points:,} communities (min cover)':<{width}}{model_s + solve_s:>12.1f} s"
        f"   (walk times {model_s:.1f} s + solve {solve_s:.2f} s: {summary['n_new']:,} stations, "
        f"bound {summary.get('lower_bound')}, covered {summary.get('covered_share', 0):.3f})"
    )


RESIDENTS = (100, 2_400)
"""Residents per community, uniform: 20,000 communities hold about 25 million (Shanghai's)."""


def bench_capacity(osm: Path, *, points: int, profile: bool) -> None:
    """A capacitated plan (10,000 residents per aide, at most 2 aides) and HiGHS' LP beside it."""
    import pandas as pd

    from quarterhour.routing.network import load_network
    from quarterhour.siting.capacity import Capacity, capacitated_highs
    from quarterhour.siting.model import CoverageModel

    network = load_network(osm)
    lon, lat = street_points(network, points, seed=1)
    weight = np.random.default_rng(points).integers(*RESIDENTS, points).astype(float)
    homes = pd.DataFrame(
        {"id": [f"c{k}" for k in range(points)], "lon": lon, "lat": lat, "weight": weight}
    )
    started = time.perf_counter()
    model = CoverageModel.from_points(network, homes, minutes=15, crs="wgs84")
    model_s = time.perf_counter() - started
    capacity = Capacity(10_000, aides_new=1, max_aides=2)
    print(
        f"\ncapacitated plan: {points:,} communities, {weight.sum():,.0f} residents, "
        f"{model.pattern.nnz:,} pairs within 15 min (walk times {model_s:.1f} s)"
    )
    model.solve()  # kernels compiled (or loaded) before the timed runs
    started = time.perf_counter()
    summary = model.solve().summary
    plain_s = time.perf_counter() - started
    print(f"  uncapacitated: {summary['n_new']:,} stations in {plain_s:.1f} s")
    started = time.perf_counter()
    if profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.runcall(model.solve, capacity=capacity)
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    else:
        model.solve(capacity=capacity)
    seconds = time.perf_counter() - started
    summary, stats = model.result.summary, model.result.stats
    print(
        f"  capacitated: {summary['n_new']:,} stations, {summary['staffing']['aides']:,} aides, "
        f"bound {summary['lower_bound']:.1f}, gap at most {100 * summary['gap']:.1f} %, "
        f"{summary['method']}, {seconds:.1f} s (LP {stats.get('lp_seconds', math.nan):.1f} s of "
        f"it: {stats.get('lp_bound')}; {stats.get('flow_checks')} flow checks)"
    )
    started = time.perf_counter()
    summary = model.solve(capacity=capacity, time_limit=15.0).summary
    print(
        f"  capacitated, time_limit=15: {summary['n_new']:,} stations, "
        f"{summary['staffing']['aides']:,} aides, bound {summary['lower_bound']:.1f}, "
        f"assignment {summary.get('assignment_method')}, {time.perf_counter() - started:.1f} s"
    )
    problem = model.capacity_problem(capacity)
    started = time.perf_counter()
    relaxed = capacitated_highs(
        problem, target=stats["served_best"], integral=False, time_limit=60.0
    )
    lp_s = time.perf_counter() - started
    print(
        f"  HiGHS, LP relaxation alone: bound {relaxed.bound:.1f} "
        f"({'optimal' if relaxed.optimal else 'stopped'}) in {lp_s:.1f} s: "
        f"{lp_s / seconds:.1f}x our plan's time"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--networks", nargs="+", choices=["heidelberg", "city"], default=["heidelberg", "city"]
    )
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the service")
    parser.add_argument("--requests", type=int, default=2000, help="requests a service series")
    parser.add_argument("--points", type=int, default=20_000, help="walk-time and plan points")
    parser.add_argument("--cache", type=Path, default=None, help="where the mosaic is kept")
    parser.add_argument("--no-valhalla", action="store_true", help="quarterhour alone")
    parser.add_argument("--skip-offline", action="store_true", help="only the isochrone service")
    parser.add_argument(
        "--capacity", action="store_true", help="only the capacitated plan on the city mosaic"
    )
    parser.add_argument("--profile", action="store_true", help="cProfile the capacitated plan")
    args = parser.parse_args(argv)
    cache = (args.cache or cache_root()).resolve()
    if args.capacity:
        bench_capacity(mosaic(cache)[0], points=args.points, profile=args.profile)
        return 0
    workdir = cache / "valhalla"
    errors = 0
    for name in args.networks:
        if name == "city":
            osm, about = mosaic(cache)
            label = (
                f"city mosaic ({about['tiles']}x{about['tiles']} Heidelberg, "
                f"{about['osm_nodes']:,} OSM nodes, {about['area_km2']:,.0f} km2, "
                f"{about['seam_footways']:,} seam footways)"
            )
        else:
            osm, label = HEIDELBERG, "Heidelberg"
        if not args.skip_offline:
            bench_offline(
                osm, points=args.points, label=label, workdir=workdir, valhalla=not args.no_valhalla
            )
        # The service runs on the cached network, in this benchmark's own cache folder.
        errors += bench_service(
            osm,
            workers=args.workers,
            rounds=args.rounds,
            requests=args.requests,
            valhalla=not args.no_valhalla,
            label=label,
            cache=cache / "networks",
            valhalla_workdir=workdir,
        )
    print(f"\nerrors: {errors}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
