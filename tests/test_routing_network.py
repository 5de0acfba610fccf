"""The walking network: the same graph as osmnx, cached, clipped, from every OSM format."""

from __future__ import annotations

import bz2
import mmap
import subprocess
import sys
from typing import TYPE_CHECKING

import numpy as np
import osmium
import osmnx as ox
import pytest
import shapely

from quarterhour.geo.boundary import read_boundary
from quarterhour.geo.errors import InputError, NetworkError
from quarterhour.routing import cache
from quarterhour.routing.network import build_network, load_network
from quarterhour.routing.osm import is_walkable

if TYPE_CHECKING:
    from pathlib import Path


def write_walkable_xml(source: Path, target: Path) -> None:
    """Keep only the walkable ways (osmnx's walk filter) and every node, as OSM XML."""
    writer = osmium.SimpleWriter(str(target), overwrite=True)
    for entity in osmium.FileProcessor(str(source)):
        if entity.is_relation() or (entity.is_way() and not is_walkable(dict(entity.tags))):
            continue
        writer.add(entity)
    writer.close()


@pytest.mark.parametrize("name", ["singapore_bayfront", "shanghai_center"])
def test_network_equals_osmnx_graph_from_xml(name: str, data_dir: Path, tmp_path: Path) -> None:
    xml = tmp_path / f"{name}.osm"
    write_walkable_xml(data_dir / f"{name}.osm.pbf", xml)
    reference = ox.convert.to_undirected(ox.graph_from_xml(xml, bidirectional=True))
    network = build_network(data_dir / f"{name}.osm.pbf", min_component_share=1.0)
    assert set(reference.nodes) == set(network.node_osmid.tolist())
    assert network.n_edges == reference.number_of_edges()
    reference_km = sum(length for _, _, length in reference.edges(data="length")) / 1000
    assert network.total_length_km == pytest.approx(reference_km, rel=1e-9)


def test_network_from_an_osmnx_graph_equals_our_build(data_dir: Path, tmp_path: Path) -> None:
    """What ``download_network`` does with osmnx's graph, offline: same streets as our reader."""
    from quarterhour.routing.network import network_from_osmnx

    xml = tmp_path / "bayfront.osm"
    write_walkable_xml(data_dir / "singapore_bayfront.osm.pbf", xml)
    converted = network_from_osmnx(ox.graph_from_xml(xml, bidirectional=True), source="osmnx")
    ours = build_network(data_dir / "singapore_bayfront.osm.pbf", min_component_share=1.0)
    assert converted.n_edges == ours.n_edges
    assert converted.total_length_km == pytest.approx(ours.total_length_km, rel=1e-9)
    assert sorted(converted.node_osmid.tolist()) == sorted(ours.node_osmid.tolist())


def test_every_osm_format_gives_the_same_network(data_dir: Path, tmp_path: Path) -> None:
    pbf = data_dir / "singapore_bayfront.osm.pbf"
    xml = tmp_path / "bayfront.osm"
    writer = osmium.SimpleWriter(str(xml))
    for entity in osmium.FileProcessor(str(pbf)):
        writer.add(entity)
    writer.close()
    compressed = tmp_path / "bayfront.osm.bz2"
    compressed.write_bytes(bz2.compress(xml.read_bytes()))
    plain_xml = tmp_path / "bayfront.osm.xml"
    plain_xml.write_bytes(xml.read_bytes())
    networks = [build_network(path) for path in (pbf, xml, compressed, plain_xml)]
    for other in networks[1:]:
        np.testing.assert_array_equal(other.node_osmid, networks[0].node_osmid)
        np.testing.assert_allclose(other.edge_length_m, networks[0].edge_length_m)


def test_clipped_extract_with_dangling_references_loads(network_of) -> None:
    network = network_of("helsinki_clipped")
    assert network.n_nodes > 1000
    assert np.isfinite(network.node_x).all()
    assert (network.edge_length_m >= 0).all()


def test_csr_arcs_run_both_ways_along_every_edge(network_of) -> None:
    network = network_of("heidelberg")
    tails = np.repeat(np.arange(network.n_nodes), np.diff(network.indptr))
    arcs = set(
        zip(tails.tolist(), network.arc_head.tolist(), network.arc_edge.tolist(), strict=True)
    )
    for e in range(0, network.n_edges, 97):
        u, v = int(network.edge_u[e]), int(network.edge_v[e])
        assert (u, v, e) in arcs and (v, u, e) in arcs
    assert len(network.arc_head) == 2 * network.n_edges


def test_geometries_start_and_end_at_their_nodes(network_of) -> None:
    network = network_of("heidelberg")
    first = network.geom_offsets[:-1]
    last = network.geom_offsets[1:] - 1
    np.testing.assert_allclose(network.geom_x[first], network.node_x[network.edge_u])
    np.testing.assert_allclose(network.geom_y[last], network.node_y[network.edge_v])
    planar = shapely.length(network.edge_lines)
    np.testing.assert_allclose(
        planar, network.edge_length_m, rtol=5e-3, atol=0.05
    )  # sphere (osmnx) vs ellipsoid


def test_cache_reload_equals_build_and_corrupt_cache_is_rebuilt(
    data_dir: Path, tmp_path: Path
) -> None:
    pbf = data_dir / "singapore_bayfront.osm.pbf"
    built = load_network(pbf, cache_folder=tmp_path)
    files = list(tmp_path.glob("*.qhnet"))
    assert len(files) == 1
    reloaded = load_network(pbf, cache_folder=tmp_path)
    for name in built.ARRAYS:
        np.testing.assert_array_equal(getattr(reloaded, name), getattr(built, name))
    assert reloaded.projection.epsg == built.projection.epsg
    files[0].write_bytes(b"not a network cache")
    rebuilt = load_network(pbf, cache_folder=tmp_path)
    np.testing.assert_array_equal(rebuilt.edge_length_m, built.edge_length_m)
    assert cache.read(files[0], source="x") is not None


def test_cached_network_is_memory_mapped_read_only(data_dir: Path, tmp_path: Path) -> None:
    """Workers share one copy of a cached network: its arrays are views of a read-only mapping."""
    pbf = data_dir / "singapore_bayfront.osm.pbf"
    load_network(pbf, cache_folder=tmp_path)
    (path,) = tmp_path.glob("*.qhnet")
    reloaded = load_network(pbf, cache_folder=tmp_path)
    for name in reloaded.ARRAYS:
        array = getattr(reloaded, name)
        assert not array.flags.writeable
        base = array
        while getattr(base, "base", None) is not None:
            base = base.base
        assert isinstance(getattr(base, "obj", base), mmap.mmap), name
    meta, arrays = cache.load_arrays(path)
    assert meta["version"] == cache.CACHE_VERSION
    assert arrays["geom_offsets"][-1] == len(arrays["geom_x"])
    # A truncated file (a copy cut short) is rebuilt, never read past its end.
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(cache.CacheFormatError, match="past the end"):
        cache.load_arrays(path)
    assert load_network(pbf, cache_folder=tmp_path).n_edges == reloaded.n_edges


def test_cache_key_changes_with_the_options(data_dir: Path, tmp_path: Path) -> None:
    pbf = data_dir / "singapore_bayfront.osm.pbf"
    box = shapely.box(103.85, 1.27, 103.87, 1.29)
    plain = cache.cache_path(pbf, boundary=None, min_component_share=None, folder=tmp_path)
    clipped = cache.cache_path(pbf, boundary=box, min_component_share=None, folder=tmp_path)
    everything = cache.cache_path(pbf, boundary=None, min_component_share=0.0, folder=tmp_path)
    assert len({plain, clipped, everything}) == 3


def test_boundary_clips_the_network(data_dir: Path) -> None:
    full = build_network(data_dir / "shanghai_center.osm.pbf")
    lon, lat = full.node_lonlat
    box = shapely.box(
        np.median(lon) - 0.02, np.median(lat) - 0.02, np.median(lon) + 0.02, np.median(lat) + 0.02
    )
    clipped = build_network(data_dir / "shanghai_center.osm.pbf", boundary=box)
    clipped_lon, clipped_lat = clipped.node_lonlat
    assert 0 < clipped.n_nodes < full.n_nodes
    assert shapely.contains_xy(box, clipped_lon, clipped_lat).all()


def test_substantial_components_are_kept(data_dir: Path) -> None:
    """Central Shanghai's road-only extract has Puxi and Pudong apart: both stay, slivers go."""
    largest = build_network(data_dir / "shanghai_center.osm.pbf", min_component_share=1.0)
    substantial = build_network(data_dir / "shanghai_center.osm.pbf")
    everything = build_network(data_dir / "shanghai_center.osm.pbf", min_component_share=0.0)
    assert largest.n_nodes < substantial.n_nodes < everything.n_nodes
    assert substantial.total_length_km > largest.total_length_km + 100
    assert everything.total_length_km - substantial.total_length_km < 5


def test_boundary_outside_the_extract_is_a_clear_error(data_dir: Path) -> None:
    qingpu = read_boundary(data_dir / "qingpu_boundary_cgcs2000.geojson")
    with pytest.raises(NetworkError, match="no walkable street lies inside the boundary"):
        build_network(data_dir / "shanghai_center.osm.pbf", boundary=qingpu)


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (b"", "empty.osm.pbf", "empty"),
        (b"<osm version='0.6'><node id='1' lat='1' lon='1'/", "broken.osm", "cannot read OSM data"),
        (b"this is not OSM data at all" * 10, "garbage.osm.pbf", "cannot read OSM data"),
        (
            b"<?xml version='1.0'?><osm version='0.6'><node id='1' lat='1' lon='1'/></osm>",
            "nodes.osm",
            "no walkable ways",
        ),
    ],
)
def test_bad_osm_files_give_one_clear_error(
    tmp_path: Path, content: bytes, name: str, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises((InputError, NetworkError), match=message):
        build_network(path)


def test_truncated_pbf_is_a_clear_error(data_dir: Path, tmp_path: Path) -> None:
    data = (data_dir / "singapore_bayfront.osm.pbf").read_bytes()
    path = tmp_path / "truncated.osm.pbf"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"truncated\.osm\.pbf"):
        build_network(path)


def test_missing_and_misnamed_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        build_network(tmp_path / "nowhere.osm.pbf")
    other = tmp_path / "streets.csv"
    other.write_text("a,b\n")
    with pytest.raises(InputError, match="not an OSM file"):
        build_network(other)


def _corruptions(arrays: dict[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
    """Well-formed cache files whose arrays would send a kernel out of bounds or astray."""
    n_nodes = arrays["node_x"].size
    indptr = arrays["indptr"].copy()
    indptr[len(indptr) // 2] = indptr[-1] + 10
    head = arrays["arc_head"].copy()
    head[7] = n_nodes + 1000
    negative = arrays["edge_u"].copy()
    negative[3] = -5
    nan_x = arrays["node_x"].copy()
    nan_x[0] = np.nan
    return {
        "indptr out of order": {**arrays, "indptr": indptr},
        "arc_head out of range": {**arrays, "arc_head": head},
        "negative edge_u": {**arrays, "edge_u": negative},
        "NaN coordinate": {**arrays, "node_x": nan_x},
        "int64 arc_head": {**arrays, "arc_head": arrays["arc_head"].astype(np.int64)},
        "missing array": {k: v for k, v in arrays.items() if k != "arc_edge"},
        "short geometry": {**arrays, "geom_x": arrays["geom_x"][:-1]},
    }


def test_crafted_caches_are_rejected_and_rebuilt(data_dir: Path, tmp_path: Path) -> None:
    """A cache file in the right format but with wrong arrays is rebuilt, never walked."""
    pbf = data_dir / "singapore_bayfront.osm.pbf"
    built = load_network(pbf, cache_folder=tmp_path)
    (path,) = tmp_path.glob("*.qhnet")
    meta, mapped = cache.load_arrays(path)
    arrays = {name: np.array(array) for name, array in mapped.items()}
    del mapped
    epsg = int(meta["epsg"])
    for why, bad in _corruptions(arrays).items():
        cache.write_arrays(path, bad, epsg=epsg)
        assert cache.read(path, source="x") is None, why
    for why, bad_epsg in {"geographic CRS": 4326, "unknown EPSG": 1, "text": "x"}.items():
        cache.write_arrays(path, arrays, epsg=bad_epsg)
        assert cache.read(path, source="x") is None, why
    cache.write_arrays(path, arrays, epsg=epsg)
    assert cache.read(path, source="x") is not None
    # End to end in a separate process (a crash there fails this test instead of killing it).
    head = arrays["arc_head"].copy()
    head[11] = 10**9
    cache.write_arrays(path, {**arrays, "arc_head": head}, epsg=epsg)
    code = (
        "import sys, quarterhour as qh;"
        f"net = qh.load_network({str(pbf)!r}, cache_folder={str(tmp_path)!r});"
        "print(net.n_edges)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "ignoring corrupt network cache" in done.stderr
    assert int(done.stdout) == built.n_edges
    assert cache.read(path, source="x") is not None
