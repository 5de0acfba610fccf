"""Point sets (communities, candidate or existing stations) from planners' files.

A planner's list comes as CSV (UTF-8, with or without a byte order mark, or GBK/GB18030 from
Excel on Chinese Windows), as an Excel workbook (``.xlsx``), or as GeoJSON or GeoPackage. Its
headers are Chinese or English (序号, 社区名称, 地址, 经度, 纬度, 常住人口, 街镇 ...; see
``FIELD_ALIASES``), and its coordinates are usually GCJ-02 (AMap, Tencent) or BD-09 (Baidu).
District offices' sheets put a title above the header, a header of two rows, totals and notes
under the table and numbers as people type them (:mod:`~quarterhour.geo.tables`,
:mod:`~quarterhour.geo.numbers`); every reader is bounded before it reads
(:mod:`~quarterhour.geo.limits`).

Every reader validates its input and raises one ``InputError`` that names the file, the field
and the rows at fault. It never guesses a coordinate system: a table whose points lie in China
needs its system stated (GeoJSON is WGS84 by RFC 7946 unless it says otherwise). Every point set
keeps the file's own table, untouched, so outputs can carry the planner's columns and the
coordinates as given; the coordinates it computes with are WGS84. What the reader took, skipped
and flagged is in ``PointSet.reading`` (:class:`~quarterhour.geo.reading.Reading`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from quarterhour.geo.crs import check_crs_name, convert, is_wgs84_equivalent, out_of_china
from quarterhour.geo.errors import InputError, require_file
from quarterhour.geo.limits import ReaderLimits, ResolvedLimits, check_file_size
from quarterhour.geo.numbers import UNIT_SUFFIXES, Numbers, normalised, parse_column, split_pairs
from quarterhour.geo.reading import Duplicate, Reading, SkippedRow, Unlocated
from quarterhour.geo.tables import (
    FIELD_ALIASES,
    HEADER_SCAN_ROWS,
    Grid,
    classify_rows,
    csv_grid,
    field_of_header,
    fill_merged,
    find_header,
    first_text,
    header_key,
    header_scale,
    header_unit,
    sheet_grid,
    workbook_sheets,
)

log = logging.getLogger("quarterhour")

CSV_SUFFIXES: tuple[str, ...] = (".csv", ".txt", ".tsv")
EXCEL_SUFFIXES: tuple[str, ...] = (".xlsx", ".xlsm", ".xls")
GEO_SUFFIXES: tuple[str, ...] = (".geojson", ".json", ".gpkg")

__all__ = [
    "FIELD_ALIASES",
    "PointSet",
    "ReaderLimits",
    "as_point_set",
    "points_from_frame",
    "read_points",
]

OVERRIDABLE: tuple[str, ...] = (
    "id",
    "name",
    "lon",
    "lat",
    "lonlat",
    "weight",
    "district",
    "town",
    "address",
    "aides",
)
"""Fields whose column a caller may name (``columns={"weight": "户籍人口"}``; ``lonlat`` is one
column holding both coordinates, ``121.48,31.20``)."""

MAX_LISTED = 5
"""How many rows or ids an error message lists before it says how many more there are."""

CRS_CHOICES = (
    "{param}gcj02 (AMap, Tencent), {param}bd09 (Baidu) or {param}wgs84 (GPS, OpenStreetMap)"
)


@dataclass(frozen=True)
class _RowNames:
    """How a table numbers its rows for people: the word and each data row's number."""

    word: str
    labels: np.ndarray

    def numbers(self, positions: np.ndarray) -> list[str]:
        numbers: list[str] = self.labels[np.asarray(positions, dtype=np.intp)].astype(str).tolist()
        return numbers

    def describe(self, positions: np.ndarray) -> str:
        plural = "s" if len(positions) > 1 else ""
        return f"{self.word}{plural} {_list_some(self.numbers(positions))}"

    def subset(self, positions: np.ndarray) -> _RowNames:
        return _RowNames(self.word, self.labels[positions])


def _counted(word: str, n: int, first: int) -> _RowNames:
    return _RowNames(word, np.arange(first, first + n))


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
    reading
        How the file was read: sheet, header row, rows skipped and why, approximate and missing
        weights, repeated rows, rows without coordinates (None for a frame).
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
    reading: Reading | None = None

    def __len__(self) -> int:
        """Return the number of points."""
        return len(self.ids)

    def __repr__(self) -> str:
        """A short summary: how many points, from where, in which system, their extent."""
        n = len(self.ids)
        extent = (
            f", lon {np.nanmin(self.lon):.4f}..{np.nanmax(self.lon):.4f}, "
            f"lat {np.nanmin(self.lat):.4f}..{np.nanmax(self.lat):.4f} (WGS84)"
            if n and np.isfinite(self.lon).any()
            else ""
        )
        fields = ", ".join(f"{key}={value!r}" for key, value in self.columns.items())
        return (
            f"<PointSet {n:,} points from {self.source}, input {self.crs}{extent}, "
            f"weight {float(np.sum(self.weight)):,.0f}{f'; columns {fields}' if fields else ''}>"
        )

    @classmethod
    def empty(cls, *, source: str = "<none>") -> PointSet:
        """Return a set without points (e.g. no candidate sites)."""
        nothing = np.empty(0, dtype=object)
        return cls(nothing, nothing, np.empty(0), np.empty(0), np.empty(0), source)

    @property
    def unlocated(self) -> tuple[Unlocated, ...]:
        """Rows the file gave without coordinates, set aside by the reader (if any).

        Existing stations known by their address only.
        """
        return () if self.reading is None else self.reading.unlocated

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
            reading=self.reading,
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
            self.reading,
        )

    def input_text(self) -> tuple[np.ndarray, np.ndarray]:
        """The coordinates as the input wrote them (full-width digits made ASCII), as text.

        A file's own text keeps its precision (``121.440678``); points from numbers only (a
        GeoJSON, a frame) give seven decimals, about a centimetre.
        """
        lon_column, lat_column = self.columns.get("lon"), self.columns.get("lat")
        pair_column = self.columns.get("lonlat")
        if len(self.table) and pair_column is not None and pair_column in self.table.columns:
            first, second, _ = split_pairs(self.table[pair_column])
            swapped = self.reading is not None and self.reading.pair_order == "lat,lon"
            lon_text, lat_text = (second, first) if swapped else (first, second)
            return lon_text.to_numpy(dtype=object), lat_text.to_numpy(dtype=object)
        if (
            len(self.table)
            and lon_column in self.table.columns
            and lat_column in self.table.columns
        ):
            lon_cells, lat_cells = (
                self.table[column]
                .map(lambda value: normalised(_as_text(value)))
                .to_numpy(dtype=object)
                for column in (lon_column, lat_column)
            )
            return lon_cells, lat_cells
        lon, lat = self.input_lonlat()
        return (
            np.asarray([f"{value:.7f}" for value in lon], dtype=object),
            np.asarray([f"{value:.7f}" for value in lat], dtype=object),
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
    header_row: int | None = None,
    dedupe: bool = False,
    allow_unlocated: bool = False,
    limits: ReaderLimits | None = None,
    name: str | None = None,
) -> PointSet:
    """Read a point set from a CSV, Excel, GeoJSON or GeoPackage file.

    Tables need longitude and latitude columns (or one column holding both, ``经纬度``) and may
    have id, name, weight, district, town and address columns, recognised by their headers (see
    ``FIELD_ALIASES``); every other column is kept. The header is found among the first 30 rows
    (titles above it, a header of two rows); blank rows, totals (合计) and notes (注) under the
    table are skipped; numbers may be typed as people type them (``１２１．４６``, ``14,217``,
    ``1.3540万``, ``约9676``). Log lines say which sheet, header row and column became what, and
    what was skipped; ``PointSet.reading`` holds it all.

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
        The sheet of an Excel workbook (default: the first whose header has coordinates).
    columns
        Columns to use for fields, overriding the headers' guesses (``{"weight": "户籍人口"}``,
        ``{"lon": "X", "lat": "Y"}``, ``{"lonlat": "位置"}``).
    header_row
        The header's row as the sheet numbers it (default: found by its known headers).
    dedupe
        Drop a row that repeats an earlier row's name and coordinates (a community pasted twice
        under a new 序号); without it such rows are kept and named in the warnings.
    allow_unlocated
        Set rows without coordinates aside in ``reading.unlocated`` (existing stations known by
        their address only) instead of stopping.
    limits
        Bounds of the reader (default: :mod:`quarterhour.settings`' ``max_*``).
    name
        The file's own name, for messages and its format (an upload stored under another
        name): ``source`` and the suffix come from it.

    Returns
    -------
    PointSet
        The points in WGS84, ``source`` set to the file name, ``reading`` saying how.
    """
    crs_name = None if crs is None else check_crs_name(crs)
    bounds = (limits or ReaderLimits()).resolved()
    file_path = require_file(path, what=role)
    source = name or file_path.name
    suffix = Path(source).suffix.lower()
    if sheet is not None and suffix not in EXCEL_SUFFIXES:
        msg = f"{source}: only an Excel workbook has sheets"
        raise InputError(msg)
    options = _TableOptions(role, columns, header_row, dedupe, allow_unlocated)
    if suffix in CSV_SUFFIXES:
        grid = csv_grid(file_path, bounds, role=role, source=source)
        return _points_from_grid(grid, crs_name=crs_name, source=source, options=options)
    if suffix in EXCEL_SUFFIXES:
        grid, reason = _excel_grid(file_path, bounds, sheet=sheet, options=options, source=source)
        return _points_from_grid(
            grid, crs_name=crs_name, source=source, options=options, sheet_reason=reason
        )
    if suffix in GEO_SUFFIXES:
        if header_row is not None:
            msg = f"{source}: only a table (CSV or Excel) has a header row"
            raise InputError(msg)
        check_file_size(file_path, bounds, source=source)
        frame = _read_geo_frame(file_path, role=role, source=source)
        table, crs_name = _geo_frame_table(frame, crs=crs_name, source=source, role=role)
        return _points_from_table(
            table,
            crs_name=crs_name,
            source=source,
            options=options,
            rows=_counted("feature", len(table), 1),
            reading=Reading(source, role),
        )
    allowed = ", ".join(CSV_SUFFIXES + EXCEL_SUFFIXES + GEO_SUFFIXES)
    kind = suffix or "suffix-less"
    msg = f"{source}: cannot read {role} from a {kind} file; use one of {allowed}"
    raise InputError(msg)


def points_from_frame(
    df: pd.DataFrame,
    *,
    crs: str | None = None,
    source: str = "<frame>",
    role: str = "points",
    columns: dict[str, str] | None = None,
    dedupe: bool = False,
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
    dedupe
        Drop rows repeating an earlier row's name and coordinates.

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
        options=_TableOptions(role, columns, None, dedupe=dedupe, allow_unlocated=False),
        rows=_counted("row", len(table), 1),
        reading=Reading(source, role),
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


def _read_geo_frame(path: Path, *, role: str, source: str) -> gpd.GeoDataFrame:
    try:
        frame = gpd.read_file(path)
    except Exception as error:  # pyogrio raises several types for unreadable files
        # GDAL names the server's temporary path and suggests driver prefixes: neither helps
        detail = str(error).replace(str(path), source).split("; It might help")[0]
        msg = f"{source}: cannot read {role} ({detail})"
        raise InputError(msg) from error
    if len(frame) == 0:
        msg = f"{source}: {role} file has no features"
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
        word = "row" if source.startswith("<") else "feature"
        rows = _counted(word, len(frame), 1).describe(not_points)
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


@dataclass(frozen=True)
class _TableOptions:
    """What a caller asked of a table: role, columns named, header row, dedupe, unlocated rows."""

    role: str
    columns: dict[str, str] | None
    header_row: int | None
    dedupe: bool
    allow_unlocated: bool

    @property
    def named(self) -> tuple[str, ...]:
        return tuple((self.columns or {}).values())


def _has_coordinates(names: list[str], options: _TableOptions) -> bool:
    found = {field_of_header(name) for name in names}
    found |= {key for key, column in (options.columns or {}).items() if column in names}
    return {"lon", "lat"} <= found or "lonlat" in found


def _excel_grid(
    path: Path, limits: ResolvedLimits, *, sheet: str | None, options: _TableOptions, source: str
) -> tuple[Grid, str]:
    """The sheet to read (given, or the first whose header has coordinates) and why that one."""
    workbook = workbook_sheets(path, limits, source=source)
    try:
        names = [str(name) for name in workbook.sheet_names]
        if sheet is not None:
            if sheet not in names:
                msg = f"{source}: no sheet {sheet!r}; the sheets are {', '.join(names)}"
                raise InputError(msg)
            return sheet_grid(workbook, sheet, limits, source=source), "given"
        first = None
        for position, name in enumerate(names):
            grid = sheet_grid(workbook, name, limits, source=source)
            first = first or grid
            top = _header_area(grid, options.header_row)
            if _has_coordinates(find_header(top, given=None, named=options.named).names, options):
                reason = (
                    "the first sheet"
                    if position == 0
                    else (
                        "the first sheet whose header has coordinates; "
                        f"not {', '.join(repr(other) for other in names[:position])}"
                    )
                )
                return grid, reason
        if first is None:
            msg = f"{source}: not a readable Excel workbook (it has no sheets)"
            raise InputError(msg)
        return first, "the first sheet: no sheet has a header with coordinates"
    finally:
        workbook.close()


def _header_area(grid: Grid, header_row: int | None) -> Grid:
    """A copy of the rows that may hold the header, merged cells filled (a title, 坐标 over two)."""
    height = max(HEADER_SCAN_ROWS, header_row or 0) + 2
    top = Grid([list(row) for row in grid.cells[:height]], merged=grid.merged)
    fill_merged(top, rows=range(height))
    return top


def _points_from_grid(
    grid: Grid,
    *,
    crs_name: str | None,
    source: str,
    options: _TableOptions,
    sheet_reason: str = "",
) -> PointSet:
    """Find a grid's header, fill its merged cells, and read its rows as points."""
    where = f"sheet {grid.sheet!r}" if grid.sheet is not None else "file"
    if not any(any(row) for row in grid.cells):
        msg = f"{source}: {where} has no {options.role} rows"
        raise InputError(msg)
    try:
        header = find_header(
            _header_area(grid, options.header_row), given=options.header_row, named=options.named
        )
    except InputError as error:
        msg = f"{source}: {where}: {error.message}"
        raise InputError(msg) from error
    chosen = _chosen_columns(header.names, options.columns, source=source)
    weight = chosen.get("weight")
    skip = (header.names.index(weight),) if weight is not None else ()
    # A blank row inside a merged 街镇 stays blank: its filled cells are not its own.
    blank = np.asarray(
        [not "".join(row).strip() for row in grid.cells[header.data_start :]], dtype=bool
    )
    filled = fill_merged(grid, rows=range(header.data_start, len(grid.cells)), skip_columns=skip)
    table = pd.DataFrame(grid.cells[header.data_start :], columns=header.names, dtype=object)
    reading = Reading(
        source,
        options.role,
        sheet=grid.sheet,
        sheet_reason=sheet_reason,
        header_rows=tuple(row + 1 for row in header.rows),
        header_reason=header.reason,
        encoding=grid.encoding,
        other_encoding_rows=grid.other_encoding_rows,
        notes=grid.notes
        + ((f"{filled:,} cells of merged ranges filled from their first cell",) if filled else ()),
    )
    return _points_from_table(
        table,
        crs_name=crs_name,
        source=source,
        options=options,
        rows=_counted("row", len(table), header.data_start + 1),
        reading=reading,
        chosen=chosen,
        blank=blank,
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
        if field_name == "lonlat" and "lon" in chosen and "lat" in chosen:
            continue
        found = _find_column([column for column in columns if column not in taken], field_name)
        if found is not None:
            chosen[field_name] = found
            taken.add(found)
    if "lon" in chosen and "lat" in chosen:
        chosen.pop("lonlat", None)
    return chosen


def _find_column(columns: list[str], field_name: str) -> str | None:
    by_key: dict[str, str] = {}
    for column in reversed(columns):
        by_key[str(column).strip().lower()] = column
        by_key.setdefault(header_key(str(column)), column)
    return next(
        (by_key[alias.lower()] for alias in FIELD_ALIASES[field_name] if alias.lower() in by_key),
        None,
    )


@dataclass(frozen=True)
class _Coordinates:
    """A table's coordinates as read: numbers, which cells said nothing, which are unreadable."""

    lon: Numbers
    lat: Numbers
    lon_column: str
    lat_column: str
    pair_order: str | None = None

    @property
    def located(self) -> np.ndarray:
        located: np.ndarray = np.isfinite(self.lon.values) & np.isfinite(self.lat.values)
        return located

    def subset(self, keep: np.ndarray) -> _Coordinates:
        return replace(
            self,
            lon=Numbers(*(getattr(self.lon, name)[keep] for name in Numbers.__dataclass_fields__)),
            lat=Numbers(*(getattr(self.lat, name)[keep] for name in Numbers.__dataclass_fields__)),
        )


def _coordinates(table: pd.DataFrame, chosen: dict[str, str]) -> _Coordinates:
    lon_column, lat_column = chosen.get("lon"), chosen.get("lat")
    if lon_column is not None and lat_column is not None:
        lon = parse_column(_texts(table[lon_column]), units=False, missing_allowed=True)
        lat = parse_column(_texts(table[lat_column]), units=False, missing_allowed=True)
        return _Coordinates(lon, lat, lon_column, lat_column)
    pair_column = chosen["lonlat"]
    cells = _texts(table[pair_column])
    first_text, second_text, not_pair = split_pairs(cells)
    first = parse_column(first_text, units=False, missing_allowed=True)
    second = parse_column(second_text, units=False, missing_allowed=True)
    blank = cells.map(normalised).to_numpy(dtype=object) == ""
    for numbers in (first, second):
        numbers.unreadable[not_pair & ~blank] = True
        numbers.missing[not_pair & ~blank] = False
    order = _pair_order(first.values, second.values)
    lon, lat = (first, second) if order == "lon,lat" else (second, first)
    return _Coordinates(lon, lat, pair_column, pair_column, order)


def _pair_order(first: np.ndarray, second: np.ndarray) -> str:
    """``lat,lon`` when every pair reads as a Chinese latitude then longitude, else ``lon,lat``."""
    both = np.isfinite(first) & np.isfinite(second)
    a, b = first[both], second[both]
    if len(a) and np.all((a >= 3) & (a <= 54) & (b >= 73) & (b <= 136)):
        return "lat,lon"
    return "lon,lat"


def _texts(column: pd.Series) -> pd.Series:
    # A sheet's or CSV file's cells are stripped text already; a frame's may be numbers.
    if pd.api.types.infer_dtype(column, skipna=False) == "string":
        return column
    return column.map(_as_text)


@dataclass
class _Work:
    """The rows of a table still being read: their cells, coordinates and row numbers."""

    table: pd.DataFrame
    coordinates: _Coordinates
    rows: _RowNames

    def keep(self, mask: np.ndarray) -> np.ndarray:
        """Keep the rows of ``mask``; return their positions (to subset parallel arrays)."""
        positions = np.flatnonzero(mask)
        self.table = self.table.iloc[positions].reset_index(drop=True)
        self.coordinates = self.coordinates.subset(positions)
        self.rows = self.rows.subset(positions)
        return positions

    def labels(self, mask: np.ndarray) -> tuple[int, ...]:
        return tuple(int(label) for label in self.rows.labels[mask])


def _require_coordinates(
    chosen: dict[str, str], columns: list[str], *, source: str, role: str
) -> None:
    if "lonlat" in chosen or (chosen.get("lon") is not None and chosen.get("lat") is not None):
        return
    found_by_field = (("lon", chosen.get("lon")), ("lat", chosen.get("lat")))
    missing = " and ".join(name for name, column in found_by_field if column is None)
    msg = (
        f"{source}: {role} need a {missing} column (e.g. "
        f"{', '.join(FIELD_ALIASES['lon'][:2])} / {', '.join(FIELD_ALIASES['lat'][:2])}, "
        f"经度 / 纬度, or one 经纬度 column); found columns: {', '.join(columns)}"
    )
    raise InputError(msg)


def _skip_non_data(work: _Work, blank: np.ndarray) -> tuple[SkippedRow, ...]:
    """Drop blank rows, totals and notes (and trailing blank rows); return what was skipped."""
    reasons = classify_rows(work.table, work.coordinates.located, blank=blank)
    skipped = tuple(
        SkippedRow(
            int(work.rows.labels[position]),
            str(reasons[position]),
            "" if reasons[position] == "blank" else first_text(work.table.iloc[position].tolist()),
        )
        for position in np.flatnonzero((reasons != "") & (reasons != "trailing"))
    )
    if (reasons != "").any():
        work.keep(reasons == "")
    return skipped


def _set_aside_unlocated(work: _Work, chosen: dict[str, str]) -> tuple[Unlocated, ...]:
    """Set aside rows whose coordinates say nothing (a station known by its address only)."""
    lon, lat = work.coordinates.lon, work.coordinates.lat
    without = (lon.missing | lat.missing) & ~(lon.unreadable | lat.unreadable)
    if not without.any():
        return ()
    texts = {
        name: work.table[chosen[name]].map(_as_text).to_numpy(dtype=object)
        for name in ("id", "name", "address")
        if name in chosen
    }
    found = []
    for position in np.flatnonzero(without):
        label = int(work.rows.labels[position])
        found.append(
            Unlocated(
                label,
                texts["id"][position] if "id" in texts else str(label),
                texts["name"][position] if "name" in texts else "",
                texts["address"][position] if "address" in texts else "",
            )
        )
    work.keep(~without)
    return tuple(found)


def _ids_and_names(work: _Work, chosen: dict[str, str]) -> tuple[np.ndarray, np.ndarray]:
    id_column, name_column = chosen.get("id"), chosen.get("name")
    if id_column is None:
        ids = np.asarray(work.rows.numbers(np.arange(len(work.table))), dtype=object)
    else:
        ids = _texts(work.table[id_column]).str.strip().to_numpy(dtype=object)
    if name_column is None:
        return ids, ids.copy()
    names = _texts(work.table[name_column]).str.strip().to_numpy(dtype=object)
    return ids, np.where(names == "", ids, names)


def _points_from_table(
    table: pd.DataFrame,
    *,
    crs_name: str | None,
    source: str,
    options: _TableOptions,
    rows: _RowNames,
    reading: Reading,
    chosen: dict[str, str] | None = None,
    blank: np.ndarray | None = None,
) -> PointSet:
    role = options.role
    columns = [str(column) for column in table.columns]
    table = table.set_axis(columns, axis=1).reset_index(drop=True)
    if chosen is None:
        chosen = _chosen_columns(columns, options.columns, source=source)
    _require_coordinates(chosen, columns, source=source, role=role)
    work = _Work(table, _coordinates(table, chosen), rows)
    skipped = _skip_non_data(work, blank) if blank is not None else ()
    if len(work.table) == 0:
        msg = f"{source}: no {role} rows"
        raise InputError(msg)
    unlocated = _set_aside_unlocated(work, chosen) if options.allow_unlocated else ()
    if unlocated and len(work.table) == 0:
        log.warning("%s: none of the %s has coordinates", source, role)
    _check_readable(work.table, work.coordinates, source=source, rows=work.rows)
    coordinates = work.coordinates
    _check_lonlat(
        coordinates.lon.values,
        coordinates.lat.values,
        lon_column=coordinates.lon_column,
        lat_column=coordinates.lat_column,
        source=source,
        numbering=work.rows,
    )
    ids, names = _ids_and_names(work, chosen)
    weight, approximate, missing_weight, unit_note = _weights(
        work.table, chosen.get("weight"), source=source, rows=work.rows
    )
    duplicates, later = _repeated_rows(
        names, coordinates.lon.values, coordinates.lat.values, work.rows, has_names="name" in chosen
    )
    if options.dedupe and later.any():
        duplicates = [replace(item, dropped=True) for item in duplicates]
        kept = work.keep(~later)
        ids, names, weight = ids[kept], names[kept], weight[kept]
        approximate, missing_weight = approximate[kept], missing_weight[kept]
        log.info(
            "%s: dropped %s repeated rows (--dedupe): %s",
            source,
            len(duplicates),
            ", ".join(f"row {item.row} (= row {item.first_row})" for item in duplicates[:20]),
        )
    if chosen.get("id") is not None:
        try:
            _check_ids(ids, id_column=chosen["id"], source=source, numbering=work.rows)
        except InputError as error:
            if not duplicates or options.dedupe:
                raise
            msg = (
                f"{error.message} (rows repeating an earlier row's name and coordinates: "
                "--dedupe, or dedupe=True, drops the later copies)"
            )
            raise InputError(msg) from error
    if unit_note:
        reading = replace(reading, notes=(*reading.notes, unit_note))
    lon, lat = work.coordinates.lon.values, work.coordinates.lat.values
    if crs_name is None:
        crs_name = _unstated_crs(lon, lat, source=source) if len(lon) else "wgs84"
    _log_columns(source, role, len(work.table), crs_name, chosen, columns)
    notes = reading.notes
    if coordinates.pair_order is not None:
        notes = (*notes, f"column {coordinates.lon_column!r} read as {coordinates.pair_order}")
    reading = replace(
        reading,
        columns=dict(chosen),
        rows=len(work.table),
        skipped=skipped,
        approximate=work.labels(approximate),
        missing_weight=work.labels(missing_weight),
        duplicates=tuple(duplicates),
        unlocated=unlocated,
        pair_order=coordinates.pair_order,
        notes=notes,
    )
    if line := reading.describe():
        log.info("%s", line)
    # Rows set aside without coordinates are the caller's to report (a plan lists those
    # stations with the others that cover nothing).
    for warning in reading.warnings(unlocated=False):
        log.warning("%s", warning)
    wgs_lon, wgs_lat = convert(lon, lat, src=crs_name, dst="wgs84")
    return PointSet(
        ids=ids,
        names=names,
        lon=np.asarray(wgs_lon, dtype=np.float64),
        lat=np.asarray(wgs_lat, dtype=np.float64),
        weight=weight,
        source=source,
        table=work.table,
        columns=chosen,
        crs=crs_name,
        rows=np.asarray(work.rows.numbers(np.arange(len(work.table))), dtype=object),
        reading=reading,
    )


def _log_columns(
    source: str, role: str, n: int, crs_name: str, chosen: dict[str, str], columns: list[str]
) -> None:
    used = ", ".join(f"{name} ← {column}" for name, column in chosen.items())
    ignored = [column for column in columns if column not in chosen.values()]
    log.info(
        "%s: %s %s in %s; %s%s",
        source,
        f"{n:,}",
        role,
        crs_name.upper().replace("GCJ02", "GCJ-02").replace("BD09", "BD-09"),
        used,
        f"; carried as they are: {', '.join(ignored)}" if ignored else "",
    )


def _check_readable(
    table: pd.DataFrame, coordinates: _Coordinates, *, source: str, rows: _RowNames
) -> None:
    """Coordinates that are not numbers (or not pairs), named by row, column and value."""
    checks = (
        (coordinates.lon, coordinates.lon_column),
        (coordinates.lat, coordinates.lat_column),
    )
    for numbers, column in checks:
        bad = np.flatnonzero(~np.isfinite(numbers.values))
        if len(bad):
            raw = table[column]
            examples = ", ".join(_shown(raw.iloc[position]) for position in bad[:MAX_LISTED])
            what = "a coordinate pair (lon,lat)" if coordinates.pair_order else "a number"
            msg = f"{source}: {rows.describe(bad)}: {column!r} is not {what} (found {examples})"
            raise InputError(msg)


def _weights(
    table: pd.DataFrame, column: str | None, *, source: str, rows: _RowNames
) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """Weights (0 where the cell says nothing), which were approximate or missing, and a note.

    The note says when the header's unit scaled them (``常住人口（万人）``).
    """
    n = len(table)
    if column is None:
        return np.ones(n, dtype=np.float64), np.zeros(n, bool), np.zeros(n, bool), ""
    numbers = parse_column(_texts(table[column]), units=True, missing_allowed=True)
    bad = np.flatnonzero(numbers.unreadable)
    if len(bad):
        examples = ", ".join(_shown(table[column].iloc[position]) for position in bad[:MAX_LISTED])
        msg = f"{source}: {rows.describe(bad)}: {column!r} is not a number (found {examples})"
        raise InputError(msg)
    weight = np.where(numbers.missing, 0.0, numbers.values)
    factor, unit_note = header_scale(column), ""
    if factor != 1.0:  # 常住人口（万人）: 1.35 is 13,500; a cell stating its own unit keeps it
        bare = ~_texts(table[column]).str.strip().str.endswith(UNIT_SUFFIXES).to_numpy(bool)
        weight = np.where(bare, np.round(weight * factor, 6), weight)
        unit_note = (
            f"column {column!r} is in {header_unit(column)}: {int(bare.sum()):,} numbers without "
            f"a unit of their own multiplied by {factor:,.0f}"
        )
        log.info("%s: %s", source, unit_note)
    negative = np.flatnonzero(weight < 0)
    if len(negative):
        msg = f"{source}: {rows.describe(negative)}: {column!r} must be a non-negative number"
        raise InputError(msg)
    return weight, numbers.approximate, numbers.missing, unit_note


def _repeated_rows(
    names: np.ndarray, lon: np.ndarray, lat: np.ndarray, rows: _RowNames, *, has_names: bool
) -> tuple[list[Duplicate], np.ndarray]:
    """Rows repeating an earlier row's name and coordinates (as given), and where they are."""
    n = len(names)
    if not has_names or n == 0:
        return [], np.zeros(n, bool)
    keys = pd.DataFrame({"name": names, "lon": lon, "lat": lat})
    later = keys.duplicated(keep="first").to_numpy()
    if not later.any():
        return [], later
    group = keys.groupby(["name", "lon", "lat"], sort=False).ngroup().to_numpy()
    _, first_of_group = np.unique(group, return_index=True)
    first_position = first_of_group[group]
    duplicates = [
        Duplicate(
            int(rows.labels[position]),
            int(rows.labels[first_position[position]]),
            str(names[position]),
            dropped=False,
        )
        for position in np.flatnonzero(later)
    ]
    return duplicates, later


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


def _shown(value: object, limit: int = 40) -> str:
    """A cell's value for a message: quoted, and cut if long."""
    text = _as_text(value)
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def _as_text(value: object) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _check_lonlat(
    lon: np.ndarray,
    lat: np.ndarray,
    *,
    lon_column: str,
    lat_column: str,
    source: str,
    numbering: _RowNames,
) -> None:
    if len(lon) == 0:
        return
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


def _check_ids(ids: np.ndarray, *, id_column: str, source: str, numbering: _RowNames) -> None:
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
