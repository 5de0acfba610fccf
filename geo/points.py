"""Point sets (communities, candidate or existing stations) from planners' files.

A planner's list comes as CSV (UTF-8, with or without a byte order mark, or GBK/GB18030 from
Excel on Chinese Windows), as an Excel workbook (``.xlsx``), or as GeoJSON or GeoPackage. Its
headers are Chinese or English (序号, 社区名称, 地址, 经度, 纬度, 常住人口, 街镇 ...; see
``FIELD_ALIASES``), and its coordinates are usually GCJ-02 (AMap, Tencent) or BD-09 (Baidu).

Every reader validates its input and raises one ``InputError`` that names the file, the field
and the rows at fault. It never guesses a coordinate system: a table whose points lie in China
needs its system stated (GeoJSON is WGS84 by RFC 7946 unless it says otherwise). Every point set
keeps the file's own table, untouched, so outputs can carry the planner's columns and the
coordinates as given; the coordinates it computes with are WGS84.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd

from quarterhour.geo.crs import check_crs_name, convert, is_wgs84_equivalent, out_of_china
from quarterhour.geo.errors import InputError, require_file

if TYPE_CHECKING:
    from pathlib import Path

log = logging.getLogger("quarterhour")

CSV_SUFFIXES: tuple[str, ...] = (".csv", ".txt")
EXCEL_SUFFIXES: tuple[str, ...] = (".xlsx", ".xlsm")
GEO_SUFFIXES: tuple[str, ...] = (".geojson", ".json", ".gpkg")

FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("id", "code", "编号", "编码", "代码", "站点编号", "社区编号", "小区编号", "序号"),
    "name": ("name", "名称", "社区名称", "小区名称", "站点名称", "居委会", "title"),
    "lon": ("lon", "lng", "long", "longitude", "经度", "x"),
    "lat": ("lat", "latitude", "纬度", "y"),
    "weight": (
        "weight",
        "population",
        "residents",
        "pop",
        "常住人口",
        "人口",
        "居民数",
        "户数",
        "人数",
        "权重",
    ),
    "district": ("district", "区", "区县", "adcode"),
    "town": (
        "town",
        "street",
        "streetname",
        "subdistrict",
        "township",
        "街镇",
        "街道",
        "镇",
        "乡镇",
    ),
    "address": ("address", "地址"),
}
"""Each field and the headers (any case) that may hold it, the preferred first."""

OVERRIDABLE: tuple[str, ...] = ("id", "name", "lon", "lat", "weight", "district", "town", "address")
"""Fields whose column a caller may name (``columns={"weight": "户籍人口"}``)."""

MAX_LISTED = 5
"""How many rows or ids an error message lists before it says how many more there are."""

CRS_CHOICES = (
    "{param}gcj02 (AMap, Tencent), {param}bd09 (Baidu) or {param}wgs84 (GPS, OpenStreetMap)"
)


@dataclass(frozen=True)
class _RowNumbering:
    """How a table numbers its rows for people: the word and the number of the first data row."""

    word: str
    first: int

    def numbers(self, positions: np.ndarray) -> list[str]:
        return [str(int(position) + self.first) for position in positions]

    def describe(self, positions: np.ndarray) -> str:
        plural = "s" if len(positions) > 1 else ""
        return f"{self.word}{plural} {_list_some(self.numbers(positions))}"


# The header is row 1 of a CSV file or a sheet, so its first data row is row 2.
_SHEET_ROWS = _RowNumbering("row", 2)
_FEATURES = _RowNumbering("feature", 1)
_FRAME_ROWS = _RowNumbering("row", 1)


def _list_some(items: list[str]) -> str:
    listed = ", ".join(items[:MAX_LISTED])
    if len(items) > MAX_LISTED:
        return f"{listed} and {len(items) - MAX_LISTED} more"
    return listed


@dataclass(frozen=True, eq=False)
class PointSet:
    """Named, weighted points in WGS84, with the table they were read from.

    Attributes
    ----------
    ids
        Unique identifiers, as strings (object dtype); a file without an id column gets its
        row numbers (as a spreadsheet shows them: the first data row under the header is 2).
    names
        Display names, as strings (object dtype); the ids where the file has no name column.
    lon, lat
        WGS84 degrees.
    weight
        Non-negative weights (residents, demand); 1.0 where the input had no weight column.
    source
        File name the points were read from, or ``"<frame>"``.
    table
        The input's table as read, one row per point in the same order: every column, the
        coordinates as given (in ``crs``).
    columns
        Which column of ``table`` became which field (``{"id": "序号", "lon": "经度" ...}``).
    crs
        The coordinate system of the input's coordinates.
    rows
        How the input numbers each point (row of a sheet, feature of a GeoJSON), for messages.
    """

    ids: np.ndarray
    names: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    weight: np.ndarray
    source: str
    table: pd.DataFrame = field(default_factory=pd.DataFrame)
    columns: dict[str, str] = field(default_factory=dict)
    crs: str = "wgs84"
    rows: np.ndarray | None = None

    def __len__(self) -> int:
        """Return the number of points."""
        return len(self.ids)

    @classmethod
    def empty(cls, *, source: str = "<none>") -> PointSet:
        """Return a set without points (e.g. no candidate sites)."""
        nothing = np.empty(0, dtype=object)
        return cls(nothing, nothing, np.empty(0), np.empty(0), np.empty(0), source)

    @property
    def extra(self) -> pd.DataFrame:
        """The input's columns that are not id, name, lon, lat or weight, in input order."""
        used = {self.columns.get(name) for name in ("id", "name", "lon", "lat", "weight")}
        keep = [column for column in self.table.columns if column not in used]
        return self.table.loc[:, keep].reset_index(drop=True)

    def field(self, name: str) -> np.ndarray | None:
        """The values of an optional field (``district``, ``town``, ``address``) as text.

        Parameters
        ----------
        name
            A field of ``FIELD_ALIASES``.
        """
        column = self.columns.get(name)
        if column is None or column not in self.table.columns:
            return None
        return self.table[column].map(_as_text).to_numpy(dtype=object)

    def input_lonlat(self) -> tuple[np.ndarray, np.ndarray]:
        """The coordinates as the input gave them (in ``crs``), as numbers."""
        return convert(self.lon, self.lat, src="wgs84", dst=self.crs)

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
        table = self.table.iloc[positions].reset_index(drop=True) if len(self.table) else None
        return PointSet(
            ids=self.ids[positions],
            names=self.names[positions],
            lon=self.lon[positions],
            lat=self.lat[positions],
            weight=self.weight[positions],
            source=self.source,
            table=pd.DataFrame() if table is None else table,
            columns=dict(self.columns),
            crs=self.crs,
            rows=None if self.rows is None else self.rows[positions],
        )

    def with_ids(self, ids: list[str] | np.ndarray) -> PointSet:
        """Return the same points under other ids (e.g. compounds playing stations)."""
        values = np.asarray([str(value) for value in ids], dtype=object)
        if values.size != len(self):
            msg = f"{self.source}: {values.size:,} ids for {len(self):,} points"
            raise InputError(msg)
        table = self.table.copy()
        id_column = self.columns.get("id")
        columns = dict(self.columns)
        if id_column is None:
            id_column = columns["id"] = "id"
        table[id_column] = values
        return PointSet(
            values,
            self.names,
            self.lon,
            self.lat,
            self.weight,
            self.source,
            table,
            columns,
            self.crs,
            self.rows,
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
        extra = self.extra
        extra = extra.loc[:, [column for column in extra.columns if column not in core.columns]]
        return pd.concat([core, extra], axis=1)

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
            A name from ``quarterhour.geo.crs.CRS_NAMES``.
        """
        return convert(self.lon, self.lat, src="wgs84", dst=crs)


def read_points(
    path: str | Path,
    *,
    crs: str | None = None,
    role: str = "points",
    sheet: str | None = None,
    columns: dict[str, str] | None = None,
) -> PointSet:
    """Read a point set from a CSV, Excel, GeoJSON or GeoPackage file.

    Tables need longitude and latitude columns and may have id, name, weight, district, town
    and address columns, recognised by their headers (see ``FIELD_ALIASES``); every other
    column is kept. One log line says which column became what.

    Parameters
    ----------
    path
        The file: ``.csv`` (UTF-8, UTF-8 with BOM, GBK/GB18030), ``.xlsx``, ``.geojson`` or
        ``.gpkg``.
    crs
        Coordinate system of the coordinates: ``"wgs84"``, ``"gcj02"`` or ``"bd09"``. A table
        whose points lie in China must state it (it is never guessed); a GeoJSON or GeoPackage
        is read in its declared CRS (WGS84 by default; CGCS2000 counts as WGS84), unless this
        says its degrees are GCJ-02 or BD-09.
    role
        What the points are (``"communities"``, ``"stations"``), for messages.
    sheet
        The sheet of an Excel workbook (default: the first).
    columns
        Columns to use for fields, overriding the headers' guesses (``{"weight": "户籍人口"}``).

    Returns
    -------
    PointSet
        The points in WGS84, ``source`` set to the file name.
    """
    crs_name = None if crs is None else check_crs_name(crs)
    file_path = require_file(path, what=role)
    source = file_path.name
    suffix = file_path.suffix.lower()
    if sheet is not None and suffix not in EXCEL_SUFFIXES:
        msg = f"{source}: only an Excel workbook has sheets"
        raise InputError(msg)
    if suffix in CSV_SUFFIXES:
        table, numbering = _read_csv_table(file_path, role=role), _SHEET_ROWS
    elif suffix in EXCEL_SUFFIXES:
        table, numbering = _read_excel_table(file_path, role=role, sheet=sheet), _SHEET_ROWS
    elif suffix in GEO_SUFFIXES:
        frame = _read_geo_frame(file_path, role=role)
        table, crs_name = _geo_frame_table(frame, crs=crs_name, source=source, role=role)
        numbering = _FEATURES
    elif suffix == ".xls":
        msg = f"{source}: old Excel (.xls) files cannot be read: save the sheet as .xlsx or .csv"
        raise InputError(msg)
    else:
        allowed = ", ".join(CSV_SUFFIXES + EXCEL_SUFFIXES + GEO_SUFFIXES)
        kind = suffix or "suffix-less"
        msg = f"{source}: cannot read {role} from a {kind} file; use one of {allowed}"
        raise InputError(msg)
    return _points_from_table(
        table,
        crs_name=crs_name,
        source=source,
        role=role,
        numbering=numbering,
        overrides=columns,
    )


def points_from_frame(
    df: pd.DataFrame,
    *,
    crs: str | None = None,
    source: str = "<frame>",
    role: str = "points",
    columns: dict[str, str] | None = None,
) -> PointSet:
    """Validate a DataFrame or GeoDataFrame of points like ``read_points`` validates a file.

    Parameters
    ----------
    df
        One row per point. A GeoDataFrame's Point geometry is used (reprojected to WGS84 from
        its CRS); a DataFrame needs longitude and latitude columns. Other columns as in a file
        (see ``FIELD_ALIASES``).
    crs
        Coordinate system of the coordinates: ``"wgs84"``, ``"gcj02"`` or ``"bd09"``. A
        GeoDataFrame with a CRS needs none (give ``"gcj02"`` or ``"bd09"`` for degrees in those
        systems); a DataFrame whose points lie in China must state it.
    source
        Name used in messages and kept in ``PointSet.source``.
    role
        What the points are, for messages.
    columns
        Columns to use for fields, overriding the headers' guesses.

    Returns
    -------
    PointSet
        The points in WGS84. Messages number rows from 1 in the frame's order.
    """
    crs_name = None if crs is None else check_crs_name(crs)
    if isinstance(df, gpd.GeoDataFrame):
        table, crs_name = _geo_frame_table(df, crs=crs_name, source=source, role=role)
    else:
        table = pd.DataFrame(df)
    return _points_from_table(
        table,
        crs_name=crs_name,
        source=source,
        role=role,
        numbering=_FRAME_ROWS,
        overrides=columns,
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
        What the points are, for messages.
    """
    if isinstance(points, PointSet):
        return points
    if isinstance(points, pd.DataFrame):
        return points_from_frame(points, crs=crs, source=f"<{role}>", role=role)
    msg = f"must be a PointSet or a (Geo)DataFrame, not {type(points).__name__}"
    raise InputError(msg, param=role)


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
                f"{path.name}: {role} file is neither UTF-8 nor GBK/GB18030 text "
                f"({error.reason} at byte {error.start})"
            )
            raise InputError(msg) from error
    if not text.strip():
        msg = f"{path.name}: {role} file is empty"
        raise InputError(msg)
    try:
        # Everything as text: ids keep their leading zeros and empty cells stay "".
        return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        msg = f"{path.name}: not a valid CSV file ({error})"
        raise InputError(msg) from error


def _read_excel_table(path: Path, *, role: str, sheet: str | None) -> pd.DataFrame:
    try:
        workbook = pd.ExcelFile(path, engine="openpyxl")
    except Exception as error:  # openpyxl raises several types for broken files
        msg = f"{path.name}: not a readable Excel workbook ({error})"
        raise InputError(msg) from error
    with workbook:
        names = [str(name) for name in workbook.sheet_names]
        if sheet is not None and sheet not in names:
            msg = f"{path.name}: no sheet {sheet!r}; the sheets are {', '.join(names)}"
            raise InputError(msg)
        chosen = sheet if sheet is not None else names[0]
        table = pd.read_excel(
            workbook, sheet_name=chosen, dtype=str, keep_default_na=False, na_values=[]
        )
    table.columns = [str(column).strip() for column in table.columns]
    blank = (table.apply(lambda column: column.str.strip()) == "").all(axis=1).to_numpy()
    if blank.all():
        msg = f"{path.name}: sheet {chosen!r} has no {role} rows"
        raise InputError(msg)
    # Rows after the last filled one are formatting, not data; blank rows inside are data
    # (and fail validation, naming their row).
    last = int(np.flatnonzero(~blank)[-1])
    if last + 1 < len(table):
        log.debug("%s: ignored %s empty rows after the last one", path.name, len(table) - last - 1)
    return table.iloc[: last + 1].reset_index(drop=True)


def _read_geo_frame(path: Path, *, role: str) -> gpd.GeoDataFrame:
    try:
        frame = gpd.read_file(path)
    except Exception as error:  # pyogrio raises several types for unreadable files
        msg = f"{path.name}: cannot read {role} ({error})"
        raise InputError(msg) from error
    if len(frame) == 0:
        msg = f"{path.name}: {role} file has no features"
        raise InputError(msg)
    return frame


def _geo_frame_table(
    frame: gpd.GeoDataFrame, *, crs: str | None, source: str, role: str
) -> tuple[pd.DataFrame, str]:
    """The attribute table of a GeoDataFrame with ``lon``/``lat`` from its Point geometry."""
    if crs in (None, "wgs84"):
        if frame.crs is not None and not is_wgs84_equivalent(frame.crs):
            frame = frame.to_crs("EPSG:4326")
        crs_name = "wgs84"
    else:
        crs_name = crs
        if frame.crs is not None and not frame.crs.is_geographic:
            msg = f"{source}: a projected frame ({frame.crs}) cannot hold {crs} degrees"
            raise InputError(msg)
    geometry = frame.geometry
    not_point = (geometry.geom_type != "Point").to_numpy() | geometry.is_empty.to_numpy()
    not_points = np.flatnonzero(not_point)
    if len(not_points):
        found_types = geometry.geom_type.iloc[not_points].fillna("no geometry").astype(str)
        found = ", ".join(sorted(set(found_types)))
        numbering = _FRAME_ROWS if source.startswith("<") else _FEATURES
        rows = numbering.describe(not_points)
        msg = f"{source}: {rows}: {role} need Point geometries (found {found})"
        raise InputError(msg)
    # The geometry is authoritative: attribute columns that look like coordinates are dropped.
    coordinate_headers = set(FIELD_ALIASES["lon"] + FIELD_ALIASES["lat"])
    attributes = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    keep = [str(column).strip().lower() not in coordinate_headers for column in attributes.columns]
    attributes = attributes.loc[:, keep].reset_index(drop=True)
    attributes.columns = [str(column) for column in attributes.columns]
    attributes["lon"] = geometry.x.to_numpy()
    attributes["lat"] = geometry.y.to_numpy()
    return attributes, crs_name


def _find_column(columns: list[str], field_name: str) -> str | None:
    lowered = {str(column).strip().lower(): column for column in reversed(columns)}
    return next(
        (lowered[alias.lower()] for alias in FIELD_ALIASES[field_name] if alias.lower() in lowered),
        None,
    )


def _chosen_columns(
    columns: list[str], overrides: dict[str, str] | None, *, source: str
) -> dict[str, str]:
    chosen: dict[str, str] = {}
    for field_name, column in (overrides or {}).items():
        if field_name not in OVERRIDABLE:
            msg = f"no field {field_name!r}: name a column for one of {', '.join(OVERRIDABLE)}"
            raise InputError(msg)
        if column not in columns:
            msg = (
                f"{source}: no column {column!r} for the {field_name}; "
                f"the columns are {', '.join(columns)}"
            )
            raise InputError(msg)
        chosen[field_name] = column
    taken = set(chosen.values())
    for field_name in FIELD_ALIASES:
        if field_name in chosen:
            continue
        guessed = _find_column([column for column in columns if column not in taken], field_name)
        if guessed is not None:
            chosen[field_name] = guessed
            taken.add(guessed)
    return chosen


def _points_from_table(
    table: pd.DataFrame,
    *,
    crs_name: str | None,
    source: str,
    role: str,
    numbering: _RowNumbering,
    overrides: dict[str, str] | None = None,
) -> PointSet:
    columns = [str(column) for column in table.columns]
    table = table.set_axis(columns, axis=1).reset_index(drop=True)
    if len(table) == 0:
        msg = f"{source}: no {role} rows"
        raise InputError(msg)
    chosen = _chosen_columns(columns, overrides, source=source)
    lon_column, lat_column = chosen.get("lon"), chosen.get("lat")
    if lon_column is None or lat_column is None:
        found_by_field = (("lon", lon_column), ("lat", lat_column))
        missing = " and ".join(name for name, column in found_by_field if column is None)
        msg = (
            f"{source}: {role} need a {missing} column (e.g. "
            f"{', '.join(FIELD_ALIASES['lon'][:2])} / {', '.join(FIELD_ALIASES['lat'][:2])}, "
            f"经度 / 纬度); found columns: {', '.join(columns)}"
        )
        raise InputError(msg)
    lon = _numeric_column(table, lon_column, source=source, numbering=numbering)
    lat = _numeric_column(table, lat_column, source=source, numbering=numbering)
    _check_lonlat(
        lon, lat, lon_column=lon_column, lat_column=lat_column, source=source, numbering=numbering
    )

    row_numbers = np.asarray(numbering.numbers(np.arange(len(table))), dtype=object)
    id_column = chosen.get("id")
    if id_column is None:
        ids = row_numbers.copy()
    else:
        ids = table[id_column].map(_as_text).to_numpy(dtype=object)
        _check_ids(ids, id_column=id_column, source=source, numbering=numbering)

    name_column = chosen.get("name")
    names = ids.copy()
    if name_column is not None:
        names = table[name_column].map(_as_text).to_numpy(dtype=object)
        names = np.where(names == "", ids, names)

    weight_column = chosen.get("weight")
    if weight_column is None:
        weight = np.ones(len(table), dtype=np.float64)
    else:
        weight = _numeric_column(table, weight_column, source=source, numbering=numbering)
        negative = np.flatnonzero(weight < 0)
        if len(negative):
            rows = numbering.describe(negative)
            msg = f"{source}: {rows}: {weight_column!r} must be a non-negative number"
            raise InputError(msg)

    if crs_name is None:
        crs_name = _unstated_crs(lon, lat, source=source)
    used = ", ".join(f"{name} ← {column}" for name, column in chosen.items())
    ignored = [column for column in columns if column not in chosen.values()]
    log.info(
        "%s: %s %s in %s; %s%s",
        source,
        f"{len(table):,}",
        role,
        crs_name.upper().replace("GCJ02", "GCJ-02").replace("BD09", "BD-09"),
        used,
        f"; carried as they are: {', '.join(ignored)}" if ignored else "",
    )
    wgs_lon, wgs_lat = convert(lon, lat, src=crs_name, dst="wgs84")
    return PointSet(
        ids=ids,
        names=names,
        lon=np.asarray(wgs_lon, dtype=np.float64),
        lat=np.asarray(wgs_lat, dtype=np.float64),
        weight=weight,
        source=source,
        table=table,
        columns=chosen,
        crs=crs_name,
        rows=row_numbers,
    )


def _unstated_crs(lon: np.ndarray, lat: np.ndarray, *, source: str) -> str:
    """WGS84 for points outside China; for points in China, an error: the system is not guessed."""
    in_china = ~out_of_china(lon, lat)
    if not in_china.any():
        return "wgs84"
    msg = (
        f"{source}: {int(in_china.sum()):,} points lie in China, where lists come in GCJ-02, "
        f"BD-09 or WGS84, and no coordinate system was given: state it with "
        f"{CRS_CHOICES}"
    )
    raise InputError(msg, param="crs")


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
    values = pd.to_numeric(stripped, errors="coerce").to_numpy(dtype=np.float64)
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
