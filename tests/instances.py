"""Coverage instances built from the bundled real data, for the siting tests and the benchmark.

* :func:`straight_line_minutes` -- a straight-line stand-in for walk times (no network needed);
* :func:`street_points` -- demand points spread along the real streets of a network (for extracts
  such as Heidelberg that come without a list of communities);
* :func:`shanghai_compounds` -- the real compounds inside the central Shanghai extract (WGS84);
* :func:`milp_min_cover` -- the reference optimum of a minimum-cover instance (HiGHS MILP);
* :func:`orlib_instance`, :func:`orlib_best_known` -- Beasley's OR-Library set-covering instances
  (data/orlib) as 0/1 matrices and their best-known unicost values.
"""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.spatial import cKDTree

from quarterhour import settings
from quarterhour.geo.projection import LocalProjection

DATA = Path(__file__).resolve().parents[1] / "data"
ORLIB = DATA / "orlib"
SHANGHAI_EXTRACT = (
    121.409,
    121.552,
    31.179,
    31.279,
)  # west, east, south, north of shanghai_center.osm.pbf


def straight_line_minutes(
    src_lon: np.ndarray,
    src_lat: np.ndarray,
    dst_lon: np.ndarray,
    dst_lat: np.ndarray,
    *,
    minutes: float = settings.walk_limit_minutes,
    speed_kmh: float = settings.walk_speed_kmh,
    detour: float = 1.25,
) -> sp.csr_matrix:
    """Walk minutes along straight lines times ``detour``, for the pairs within ``minutes``.

    Returns a CSR matrix (sources x targets); a point on top of another is a stored zero.
    """
    projection = LocalProjection.for_lonlat(np.r_[src_lon, dst_lon], np.r_[src_lat, dst_lat])
    src = np.column_stack(projection.forward(src_lon, src_lat))
    dst = np.column_stack(projection.forward(dst_lon, dst_lat))
    radius_m = settings.minutes_to_metres(minutes, speed_kmh) / detour
    pairs = cKDTree(src).sparse_distance_matrix(cKDTree(dst), radius_m, output_type="ndarray")
    metres_per_minute = settings.minutes_to_metres(1.0, speed_kmh)
    cost = pairs["v"] * detour / metres_per_minute
    return sp.csr_matrix((cost, (pairs["i"], pairs["j"])), shape=(src.shape[0], dst.shape[0]))


def street_points(network: object, n: int, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points at random positions along the streets of ``network`` (WGS84 lon, lat).

    Edges are drawn with probability proportional to their length and a point is put at a
    uniform offset along the drawn edge, so the points follow where the streets are. The same
    network and seed give the same points.
    """
    rng = np.random.default_rng(seed)
    lines = network.edge_lines
    length = shapely.length(lines)
    edges = rng.choice(length.size, size=n, p=length / length.sum())
    spots = shapely.line_interpolate_point(lines[edges], rng.random(n), normalized=True)
    return network.projection.inverse(shapely.get_x(spots), shapely.get_y(spots))


def shanghai_compounds() -> pd.DataFrame:
    """The bundled compounds inside the central Shanghai extract: ``id, name, lon, lat`` (WGS84), by id."""
    from quarterhour.geo.crs import gcj02_to_wgs84

    table = pd.read_csv(DATA / "shanghai_compounds_amap_gcj02.csv", dtype={"id": str})
    lon, lat = gcj02_to_wgs84(table["lng"].to_numpy(), table["lat"].to_numpy())
    table = table.assign(lon=lon, lat=lat)
    west, east, south, north = SHANGHAI_EXTRACT
    inside = table["lon"].between(west, east) & table["lat"].between(south, north)
    return table[inside].drop_duplicates("id").sort_values("id").reset_index(drop=True)


def milp_min_cover(cost: sp.csr_matrix, fixed: np.ndarray | None = None) -> int:
    """Optimal number of new columns covering every coverable row (fixed columns count 0)."""
    pattern = sp.csr_matrix((np.ones(cost.nnz), cost.indices, cost.indptr), shape=cost.shape)
    rows = np.flatnonzero(pattern.getnnz(axis=1) > 0)
    n = cost.shape[1]
    lower = np.zeros(n)
    objective = np.ones(n)
    if fixed is not None:
        lower[fixed] = 1.0
        objective[fixed] = 0.0
    solution = milp(
        objective,
        constraints=LinearConstraint(pattern[rows], lb=1),
        integrality=np.ones(n),
        bounds=Bounds(lower, 1),
    )
    assert solution.status == 0
    return round(solution.fun)


def orlib_instance(name: str, folder: Path = ORLIB) -> sp.csr_matrix:
    """The 0/1 matrix (rows to cover x columns) of OR-Library set-covering instance ``name``.

    ``scp*`` files list ``m n``, the ``n`` column costs, then per row its column count and
    columns; ``rail*`` files list ``m n``, then per column its cost, row count and rows (1-based
    numbers, whitespace-separated over any lines). Costs are dropped: the problems are solved as
    unicost ones.
    """
    with gzip.open(folder / f"{name}.txt.gz", "rb") as stream:
        numbers = np.array(stream.read().split(), dtype=np.int64)
    n_rows, n_cols = int(numbers[0]), int(numbers[1])
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    if name.startswith("rail"):
        pos = 2
        for col in range(n_cols):
            count = int(numbers[pos + 1])
            rows.append(numbers[pos + 2 : pos + 2 + count] - 1)
            cols.append(np.full(count, col))
            pos += 2 + count
    else:
        pos = 2 + n_cols
        for row in range(n_rows):
            count = int(numbers[pos])
            cols.append(numbers[pos + 1 : pos + 1 + count] - 1)
            rows.append(np.full(count, row))
            pos += 1 + count
    if pos != numbers.size:
        msg = f"{name}: {numbers.size - pos} numbers left over after the matrix"
        raise ValueError(msg)
    row_index, col_index = np.concatenate(rows), np.concatenate(cols)
    matrix = sp.csr_matrix(
        (np.ones(row_index.size), (row_index, col_index)), shape=(n_rows, n_cols)
    )
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix


def orlib_best_known(folder: Path = ORLIB) -> dict[str, tuple[str, int]]:
    """Series and best-known unicost value of every OR-Library instance, by name.

    The smaller of the two published tables in ``bks_unicost.csv``, except scpc1-4, where table A's
    40 is not supported by the literature and 43 is used (see data/README.md).
    """
    known: dict[str, tuple[str, int]] = {}
    with (folder / "bks_unicost.csv").open(newline="") as stream:
        for row in csv.DictReader(stream):
            values = [int(v) for v in (row["bks_unicost_table_a"], row["bks_unicost_table_b"]) if v]
            best = min(values)
            if row["series"] == "c" and row["bks_unicost_table_b"]:
                best = int(row["bks_unicost_table_b"])
            known[row["instance"]] = (row["series"], best)
    return known
