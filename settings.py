"""Defaults of quarterhour, in one typed place.

Change a value here (``quarterhour.settings.walk_speed_kmh = 4.0``) to change the default of every
function and command that reads it; pass an explicit keyword to change one call.
"""

from __future__ import annotations

import os
from pathlib import Path

walk_speed_kmh: float = 4.5
"""Default walking speed: 4.5 km/h, i.e. 75 m per minute."""

walk_limit_minutes: float = 15.0
"""The 15-minute circle."""

snap_max_m: float = 500.0
"""Points farther than this from any walkable edge are unreachable, never snapped."""

isochrone_contours: tuple[float, ...] = (5.0, 10.0, 15.0)
"""Default isochrone contours, in minutes."""

isochrone_buffer_m: float = 50.0
"""How far off a reached street an isochrone polygon reaches, in metres."""

isochrone_cell_m: float = 20.0
"""Grid cell of the isochrone time field, in metres."""

min_component_share: float = 0.01
"""Keep connected components with at least this share of the largest one's street length.

osmnx keeps only the largest; a river without a walkable crossing in the extract (central
Shanghai's road-only extract: Puxi and Pudong) splits a district into real, separate parts, so
every substantial component is kept and only slivers are dropped.
"""

cache_folder: Path = Path(
    os.environ.get("QUARTERHOUR_CACHE", Path.home() / ".cache" / "quarterhour")
)
"""Where built networks are cached (CSR arrays, coordinates, geometries)."""

use_cache: bool = True
"""Whether built networks are cached on disk and reloaded."""

use_compiled_kernels: bool = os.environ.get("QUARTERHOUR_AOT", "1") != "0"
"""Whether kernels compiled at install run (else numba compiles them at first use)."""

search_runs: int | None = None
"""Minimum-cover searches run side by side from the same first cover with their own seeds (the
smallest cover wins); ``None``: one per core. More runs find smaller covers in the same time on
more cores; the answer depends on the number of runs."""

max_osm_xml_mb: float = 2048.0
"""Most OSM XML (decompressed) read from a .osm, .osm.bz2 or .osm.gz file: 2 GB, all of
Shanghai's map data twice over; larger extracts come as .osm.pbf."""

max_osm_xml_element_kb: float = 64.0
"""Longest element of OSM XML, or text between two: libosmium's tags hold 1,024 characters."""

max_boundary_mb: float = 256.0
"""Largest boundary (GeoJSON) file: a country's outline at full detail takes about 50 MB."""

cache_max_mb: float = 2048.0
"""Size of the network cache folder: past it, the networks used longest ago are removed."""

cache_max_age_days: float = 90.0
"""Cached networks not used for this many days are removed."""

attribution: str = "© OpenStreetMap contributors (ODbL)"
"""Carried by every output built from OpenStreetMap data."""

session_idle_s: float = 30 * 60.0
"""A workspace session ends after this long without a request (OWASP ASVS level 2, NIST AAL2)."""

session_max_s: float = 12 * 3600.0
"""A workspace session ends this long after its login, however active."""

password_min_length: int = 12
"""Shortest password ``quarterhour users add``/``passwd`` accept (ASVS 2.1.1); 128 the longest."""

login_free_failures: int = 5
"""Failed logins to one account (ten times as many from one address) before each further try
waits: 1 s, doubling with each failure, at most ``login_max_wait_s``."""

login_max_wait_s: float = 900.0
"""The longest wait between tries once logins keep failing."""

login_failure_window_s: float = 3600.0
"""A run of failed logins is forgotten this long after its last failure."""


data_folder: Path = Path(
    os.environ.get("QUARTERHOUR_DATA", Path(__file__).resolve().parent / "data")
)
"""The bundled data (central Shanghai streets and compounds, district outlines, Qingpu data)."""

default_osm: str = "shanghai_center.osm.pbf"
"""The bundled default network: central Shanghai (OpenStreetMap, 2025-08-09)."""

default_communities: str = "shanghai_compounds_amap_gcj02.csv"
"""The bundled default communities: real residential compounds (AMap, GCJ-02)."""

default_communities_crs: str = "gcj02"
"""The coordinate system of the bundled compounds."""


def default_osm_path() -> Path:
    """Return the bundled default extract (central Shanghai)."""
    return data_folder / default_osm


def default_communities_path() -> Path:
    """Return the bundled default communities (AMap compounds, GCJ-02)."""
    return data_folder / default_communities


def minutes_to_metres(minutes: float, speed_kmh: float) -> float:
    """Return the distance walked in ``minutes`` at ``speed_kmh``."""
    return minutes * speed_kmh * 1000.0 / 60.0


# Bounds of the point-file readers: far above any planner's list (a city's 13,000 compounds in
# a 3 MB workbook), so that only a broken or hostile file meets them. Raise one here, with a
# ``ReaderLimits`` keyword, or with the command line's ``--max-...`` option.

max_file_mb: float = 200.0
"""Largest point file read, in MB on disk."""

max_rows: int = 1_000_000
"""Most rows of a point file (a sheet's last row number, a CSV's lines)."""

max_columns: int = 1_000
"""Most columns of a point file (a sheet's last column, a CSV line's fields)."""

max_cells: int = 20_000_000
"""Most cells of a sheet's used area (last row times last column): what a reader allocates."""

max_cell_chars: int = 1_000_000
"""Longest text in one cell or between two tags of a workbook's XML (far above Excel's own
32,767: a longer name is read, then cut to 32,767 in the outputs with a warning)."""

max_line_chars: int = 4_000_000
"""Longest line of a CSV file, in bytes."""

max_part_mb: float = 200.0
"""Largest part of an ``.xlsx`` workbook once decompressed (a sheet's XML, the shared strings)."""

workspace_folder: Path = Path(
    os.environ.get("QUARTERHOUR_WORKSPACE")
    or Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "quarterhour"
)
"""Where ``quarterhour serve`` keeps the planners' workspace (``workspace.sqlite3``) by default."""
