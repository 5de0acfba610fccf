"""Point sets (compounds, candidate or existing stations) from CSV, GeoJSON or GeoPackage.

Every reader validates its input and raises one ``InputError`` that names the file, the field
and the rows at fault, and every point set it returns is in WGS84 whatever the input's
coordinate system.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd

from quarterhour.geo.crs import check_crs_name, convert, is_wgs84_equivalent
from quarterhour.geo.errors import InputError, require_file

if TYPE_CHECKING:
    from pathlib import Path

CSV_SUFFIXES: tuple[str, ...] = (".csv", ".txt")
GEO_SUFFIXES: tuple[str, ...] = (".geojson", ".json", ".gpkg")

COLUMN_ALIASES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("id", ("id", "code", "编号", "编码")),
    ("name", ("name", "名称", "小区名称", "title")),
    ("lon", ("lon", "lng", "long", "longitude", "x", "经度")),
    ("lat", ("lat", "latitude", "y", "纬度")),
    ("weight", ("weight", "residents", "population", "pop", "人口", "人数", "权重")),
)
"""Each field and the headers (any case) that may hold it, the preferred first."""

MAX_LISTED = 5
"""How many rows or ids an error message lists before it says how many more there are."""


@dataclass(frozen=True, eq=False)
class PointSet:
    """Named, weighted points in WGS84.

    Attributes
    ----------
    ids
        Unique identifiers, as strings (object dtype).
    names
        Display names, as strings (object dtype).
    lon, lat
        WGS84 degrees.
    weight
        Non-negative weights (residents, demand); 1.0 where the input had no weight column.
    source
        File name the points were read from, or ``"<frame>"``.
    extra
        The input's other columns (address, town ...), one row per point in the same order.
    """

    ids: np.ndarray
    names: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    weight: np.ndarray
    source: str
    extra: pd.DataFrame

    def __len__(self) -> int:
        """Return the number of points."""
        return len(self.ids)

    @classmethod
    def empty(cls, *, source: str = "<none>") -> PointSet:
        """Return a set without points (e.g. no candidate sites)."""
        nothing = np.empty(0, dtype=object)
        return cls(nothing, nothing, np.empty(0), np.empty(0), np.empty(0), source, pd.DataFrame())

    def subset(self, mask_or_index: np.ndarray | list[int] | list[bool]) -> PointSet:
        """Return the points picked by a boolean mask or by positions, in that order.

        Parameters
        ----------
        mask_or_index
            A boolean mask as long as the set, or integer positions.
        """
        selector = np.asarray(mask_or_index)
        if selector.dtype == bool:
            if len(selector) != len(self):
                msg = f"{self.source}: a mask of {len(selector)} values for {len(self)} points"
                raise InputError(msg)
            positions = np.flatnonzero(selector)
        else:
            positions = selector.astype(np.intp).ravel()
        return PointSet(
            ids=self.ids[positions],
            names=self.names[positions],
            lon=self.lon[positions],
            lat=self.lat[positions],
            weight=self.weight[positions],
            source=self.source,
            extra=self.extra.iloc[positions].reset_index(drop=True),
        )

    def to_frame(self) -> pd.DataFrame:
        """Return a DataFrame with columns id, name, lon, lat, weight and then the extra columns."""
        core = pd.DataFrame(
            {
                "id": self.ids,
                "name": self.names,
                "lon": self.lon,
                "lat": self.lat,
                "weight": self.weight,
            }
        )
        return pd.concat([core, self.extra.reset_index(drop=True)], axis=1)

    def to_geodataframe(self) -> gpd.GeoDataFrame:
        """Return ``to_frame()`` with Point geometries in EPSG:4326."""
        return gpd.GeoDataFrame(
            self.to_frame(), geometry=gpd.points_from_xy(self.lon, self.lat), crs="EPSG:4326"
        )

    def lonlat_in(self, crs: str) -> tuple[np.ndarray, np.ndarray]:
        """Return the coordinates in another system, e.g. GCJ-02 to draw on an AMap base map.

        Parameters
        ----------
        crs
            A name from ``geo.crs.CRS_NAMES``.
        """
        return convert(self.lon, self.lat, src="wgs84", dst=crs)


@dataclass(frozen=True)
class _RowNumbering:
    """How error messages number the rows of a table: the word and the number of the first row."""

    word: str
    first: int

    def describe(self, positions: np.ndarray) -> str:
        plural = "s" if len(positions) > 1 else ""
        numbers = [str(int(position) + self.first) for position in positions]
        return f"{self.word}{plural} {_list_some(numbers)}"


def _list_some(items: list[str]) -> str:
    listed = ", ".join(items[:MAX_LISTED])
    return f"{listed} and {len(items) - MAX_LISTED} more" if len(items) > MAX_LISTED else listed


# The header is line 1 of a CSV file, so its first data row is line 2.
_CSV_ROWS = _RowNumbering("row", 2)
_FEATURES = _RowNumbering("feature", 1)
_FRAME_ROWS = _RowNumbering("row", 1)


def read_points(path: str | Path, *, crs: str = "wgs84", role: str = "points") -> PointSet:
    """Read a point set from a CSV, GeoJSON or GeoPackage file.

    CSV files need columns for longitude and latitude and may have id, name and weight
    columns (see ``COLUMN_ALIASES``); they may be encoded in UTF-8 (with or without a byte
    order mark) or GB18030. GeoJSON and GeoPackage files need Point geometries; their
    attributes are read like CSV columns.

    Parameters
    ----------
    path
        The file.
    crs
        Coordinate system of the file's coordinates: ``"wgs84"``, ``"gcj02"`` or ``"bd09"``.
        A GeoJSON or GeoPackage in CGCS2000 (EPSG:4490) counts as WGS84; one in any other
        declared CRS is reprojected to EPSG:4326 first, unless ``crs`` says GCJ-02 or BD-09.
    role
        What the points are (``"communities"``, ``"stations"``), for error messages.

    Returns
    -------
    PointSet
        The points in WGS84, ``source`` set to the file name.
    """
    crs_name = check_crs_name(crs)
    file_path = require_file(path, what=role)
    source = file_path.name
    suffix = file_path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        table = _read_csv_table(file_path, role=role)
        numbering = _CSV_ROWS
    elif suffix in GEO_SUFFIXES:
        table = _read_geo_table(file_path, crs_name=crs_name, role=role)
        numbering = _FEATURES
    else:
        allowed = ", ".join(CSV_SUFFIXES + GEO_SUFFIXES)
        kind = suffix or "suffix-less"
        msg = f"{source}: cannot read {role} from a {kind} file; use one of {allowed}"
        raise InputError(msg)
    return _points_from_table(
        table, crs_name=crs_name, source=source, role=role, numbering=numbering
    )


def points_from_frame(
    df: pd.DataFrame,
    *,
    crs: str | None = None,
    source: str = "<frame>",
    role: str = "points",
) -> PointSet:
    """Validate a DataFrame or GeoDataFrame of points like ``read_points`` validates a file.

    Parameters
    ----------
    df
        One row per point. A GeoDataFrame's Point geometry is used (reprojected to WGS84 from
        its CRS); a DataFrame needs longitude and latitude columns. Other columns as in a CSV
        file (see ``COLUMN_ALIASES``).
    crs
        Coordinate system of the coordinates: ``"wgs84"``, ``"gcj02"`` or ``"bd09"``. A
        GeoDataFrame with a CRS needs none (give ``"gcj02"`` or ``"bd09"`` for degrees in those
        systems); a DataFrame's lon/lat columns default to WGS84.
    source
        Name used in error messages and kept in ``PointSet.source``.
    role
        What the points are, for error messages.

    Returns
    -------
    PointSet
        The points in WGS84. Error messages number rows from 1 in the frame's order.
    """
    if isinstance(df, gpd.GeoDataFrame):
        table, crs_name = _geo_frame_table(df, crs=crs, source=source, role=role)
        numbering = _FRAME_ROWS
    else:
        table, crs_name = df, check_crs_name(crs or "wgs84")
        numbering = _FRAME_ROWS
    return _points_from_table(
        table, crs_name=crs_name, source=source, role=role, numbering=numbering
    )


def as_point_set(
    points: PointSet | pd.DataFrame, *, crs: str | None = None, role: str = "points"
) -> PointSet:
    """Return ``points`` as a PointSet: a PointSet as it is, a (Geo)DataFrame validated.

    Parameters
    ----------
    points
        A PointSet, a GeoDataFrame or a DataFrame with lon/lat columns.
    crs
        Coordinate system of a frame's coordinates (see :func:`points_from_frame`).
    role
        What the points are, for error messages.
    """
    if isinstance(points, PointSet):
        return points
    if isinstance(points, pd.DataFrame):
        return points_from_frame(points, crs=crs, source=f"<{role}>", role=role)
    msg = f"give a PointSet or a (Geo)DataFrame, not {type(points).__name__}"
    raise InputError(msg, param=role)


def _geo_frame_table(
    frame: gpd.GeoDataFrame, *, crs: str | None, source: str, role: str
) -> tuple[pd.DataFrame, str]:
    """The attribute table of a GeoDataFrame with ``lon``/``lat`` from its Point geometry."""
    if crs is None or check_crs_name(crs) == "wgs84":
        if frame.crs is None and crs is None:
            msg = (
                f"{source}: the GeoDataFrame of {role} has no CRS: set one (gdf.set_crs(4326)) "
                "or pass crs='wgs84', 'gcj02' or 'bd09'"
            )
            raise InputError(msg)
        if frame.crs is not None and not is_wgs84_equivalent(frame.crs):
            frame = frame.to_crs("EPSG:4326")
        crs_name = "wgs84"
    else:
        crs_name = check_crs_name(crs)
        if frame.crs is not None and not frame.crs.is_geographic:
            msg = f"{source}: a projected GeoDataFrame ({frame.crs}) cannot hold {crs} degrees"
            raise InputError(msg, param="crs")
    return _point_attributes(frame, source=source, role=role, numbering=_FRAME_ROWS), crs_name


def _read_csv_table(path: Path, *, role: str) -> pd.DataFrame:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Excel on Chinese Windows saves CSV in GBK, which GB18030 contains.
        try:
            text = raw.decode("gb18030")
        except UnicodeDecodeError as error:
            msg = (
                f"{path.name}: {role} file is neither UTF-8 nor GB18030 text "
                f"({error.reason} at byte {error.start})"
            )
            raise InputError(msg) from error
    if not text.strip():
        msg = f"{path.name}: {role} file is empty"
        raise InputError(msg)
    try:
        # Everything as text: ids keep their leading zeros and empty cells stay "".
        return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except pd.errors.ParserError as error:
        msg = f"{path.name}: not a valid CSV file ({error})"
        raise InputError(msg) from error


def _read_geo_table(path: Path, *, crs_name: str, role: str) -> pd.DataFrame:
    try:
        frame = gpd.read_file(path)
    except Exception as error:  # pyogrio raises several types for unreadable files
        msg = f"{path.name}: cannot read {role} ({error})"
        raise InputError(msg) from error
    if len(frame) == 0:
        msg = f"{path.name}: {role} file has no features"
        raise InputError(msg)
    if crs_name == "wgs84" and not is_wgs84_equivalent(frame.crs):
        frame = frame.to_crs("EPSG:4326")
    return _point_attributes(frame, source=path.name, role=role, numbering=_FEATURES)


def _point_attributes(
    frame: gpd.GeoDataFrame, *, source: str, role: str, numbering: _RowNumbering
) -> pd.DataFrame:
    """The attributes of a frame of Points, with ``lon``/``lat`` taken from the geometry."""
    geometry = frame.geometry
    not_point = (geometry.geom_type != "Point").to_numpy() | geometry.is_empty.to_numpy()
    not_points = np.flatnonzero(not_point)
    if len(not_points):
        found_types = geometry.iloc[not_points].geom_type.fillna("no geometry").astype(str)
        found = ", ".join(sorted(set(found_types)))
        rows = numbering.describe(not_points)
        msg = f"{source}: {rows}: {role} need Point geometries (found {found})"
        raise InputError(msg)
    # The geometry is authoritative: attribute columns that look like coordinates are dropped.
    coordinate_headers = set(_aliases_of("lon") + _aliases_of("lat"))
    attributes = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    keep = [str(column).strip().lower() not in coordinate_headers for column in attributes.columns]
    attributes = attributes.loc[:, keep]
    attributes = attributes.reset_index(drop=True)
    attributes["lon"] = geometry.x.to_numpy()
    attributes["lat"] = geometry.y.to_numpy()
    return attributes


def _aliases_of(field_name: str) -> tuple[str, ...]:
    return next(aliases for name, aliases in COLUMN_ALIASES if name == field_name)


def _find_column(columns: list[str], field_name: str) -> str | None:
    lowered = {str(column).strip().lower(): column for column in reversed(columns)}
    return next((lowered[alias] for alias in _aliases_of(field_name) if alias in lowered), None)


def _points_from_table(
    table: pd.DataFrame,
    *,
    crs_name: str,
    source: str,
    role: str,
    numbering: _RowNumbering,
) -> PointSet:
    columns = [str(column) for column in table.columns]
    table = table.set_axis(columns, axis=1).reset_index(drop=True)
    if len(table) == 0:
        msg = f"{source}: no {role} rows"
        raise InputError(msg)
    lon_column = _find_column(columns, "lon")
    lat_column = _find_column(columns, "lat")
    if lon_column is None or lat_column is None:
        found_by_field = (("lon", lon_column), ("lat", lat_column))
        missing = " and ".join(name for name, column in found_by_field if column is None)
        msg = (
            f"{source}: {role} need a {missing} column (e.g. {', '.join(_aliases_of('lon')[:2])} / "
            f"{', '.join(_aliases_of('lat')[:2])}); found columns: {', '.join(columns)}"
        )
        raise InputError(msg)
    lon = _numeric_column(table, lon_column, source=source, numbering=numbering)
    lat = _numeric_column(table, lat_column, source=source, numbering=numbering)
    _check_lonlat(
        lon, lat, lon_column=lon_column, lat_column=lat_column, source=source, numbering=numbering
    )

    id_column = _find_column(columns, "id")
    if id_column is None:
        ids = np.array([str(position + 1) for position in range(len(table))], dtype=object)
    else:
        ids = table[id_column].map(_as_text).to_numpy(dtype=object)
        _check_ids(ids, id_column=id_column, source=source, numbering=numbering)

    name_column = _find_column(columns, "name")
    names = (
        ids.copy()
        if name_column is None
        else table[name_column].map(_as_text).to_numpy(dtype=object)
    )

    weight_column = _find_column(columns, "weight")
    if weight_column is None:
        weight = np.ones(len(table), dtype=np.float64)
    else:
        weight = _numeric_column(table, weight_column, source=source, numbering=numbering)
        negative = np.flatnonzero(weight < 0)
        if len(negative):
            rows = numbering.describe(negative)
            msg = f"{source}: {rows}: {weight_column!r} must be a non-negative number"
            raise InputError(msg)

    used = {id_column, name_column, lon_column, lat_column, weight_column}
    extra = table.loc[:, [column for column in columns if column not in used]]
    extra = extra.reset_index(drop=True)
    wgs_lon, wgs_lat = convert(lon, lat, src=crs_name, dst="wgs84")
    return PointSet(
        ids=ids,
        names=names,
        lon=np.asarray(wgs_lon, dtype=np.float64),
        lat=np.asarray(wgs_lat, dtype=np.float64),
        weight=weight,
        source=source,
        extra=extra,
    )


def _as_text(value: object) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _numeric_column(
    table: pd.DataFrame, column: str, *, source: str, numbering: _RowNumbering
) -> np.ndarray:
    raw = table[column]
    stripped = raw.map(lambda value: value.strip() if isinstance(value, str) else value)
    values = pd.to_numeric(stripped, errors="coerce")
    values = values.to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(values))
    if len(bad):
        examples = ", ".join(repr(_as_text(raw.iloc[position])) for position in bad[:MAX_LISTED])
        msg = f"{source}: {numbering.describe(bad)}: {column!r} is not a number (found {examples})"
        raise InputError(msg)
    return values


def _check_lonlat(
    lon: np.ndarray,
    lat: np.ndarray,
    *,
    lon_column: str,
    lat_column: str,
    source: str,
    numbering: _RowNumbering,
) -> None:
    swap_hint = f"looks like lon and lat are swapped (columns {lon_column!r} and {lat_column!r})"
    # A latitude beyond 90 that would be a valid latitude as a longitude is swapped on that row.
    swapped_rows = np.flatnonzero((np.abs(lat) > 90.0) & (np.abs(lon) <= 90.0))
    if len(swapped_rows):
        msg = f"{source}: {numbering.describe(swapped_rows)}: {swap_hint}"
        raise InputError(msg)
    # Chinese data set swapped as a whole: every latitude is a Chinese longitude and vice versa.
    if np.all((lat >= 73.0) & (lat <= 136.0) & (lon >= 3.0) & (lon <= 54.0)):
        msg = (
            f"{source}: every {lat_column!r} is in 73..136 and every {lon_column!r} in 3..54: "
            f"{swap_hint}"
        )
        raise InputError(msg)
    for column, values, limit in ((lon_column, lon, 180.0), (lat_column, lat, 90.0)):
        out_of_range = np.flatnonzero(np.abs(values) > limit)
        if len(out_of_range):
            rows = numbering.describe(out_of_range)
            msg = f"{source}: {rows}: {column!r} is outside -{limit:g}..{limit:g}"
            raise InputError(msg)


def _check_ids(ids: np.ndarray, *, id_column: str, source: str, numbering: _RowNumbering) -> None:
    empty = np.flatnonzero(ids == "")
    if len(empty):
        msg = f"{source}: {numbering.describe(empty)}: {id_column!r} is empty"
        raise InputError(msg)
    duplicated = pd.Series(ids).duplicated(keep=False).to_numpy()
    if duplicated.any():
        repeated_ids = [repr(value) for value in dict.fromkeys(ids[duplicated])]
        msg = (
            f"{source}: {numbering.describe(np.flatnonzero(duplicated))}: "
            f"duplicate {id_column!r} values {_list_some(repeated_ids)}"
        )
        raise InputError(msg)
