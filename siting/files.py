"""The plan folder: what ``quarterhour plan`` writes and ``quarterhour report`` reads.

``stations.geojson`` (existing and new stations; WGS84, or GCJ-02/BD-09 on request),
``assignments.csv`` (one row per input community, in input order, with the planner's columns),
``plan.xlsx`` (the same for Excel: new stations, communities, the table by area, inputs and
method), ``summary.json`` (headline figures, the parameters, the provenance of the inputs and
the attribution). The folder is written beside its place and put there in one step: a reader
sees the old plan whole or the new plan whole, never a mix.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from quarterhour import settings
from quarterhour.geo.atomic import atomic_folder
from quarterhour.geo.crs import check_crs_name
from quarterhour.geo.errors import InputError
from quarterhour.geo.spreadsheets import safe_text, write_csv, write_workbook
from quarterhour.routing.progress import progress_bar
from quarterhour.siting.staffing import staffing_sheets

if TYPE_CHECKING:
    from collections.abc import Mapping

    import shapely

    from quarterhour.geo.points import PointSet
    from quarterhour.siting.result import SitingResult

STATIONS = "stations.geojson"
ASSIGNMENTS = "assignments.csv"
WORKBOOK = "plan.xlsx"
SUMMARY = "summary.json"
INPUT_COPIES: dict[str, str] = {
    "communities": "communities.input.csv",
    "existing": "existing.input.csv",
    "candidates": "candidates.input.csv",
    "boundary": "boundary.input.geojson",
}
"""The inputs a plan written from Python carries in its folder (WGS84), for ``report``."""

PLAN_FILES = frozenset(
    {STATIONS, ASSIGNMENTS, WORKBOOK, SUMMARY, "report.pdf", "report.html", *INPUT_COPIES.values()}
)
"""What a plan folder may hold to be replaced by a new plan (the report written into it too)."""

MEASURE_DECIMALS: dict[str, int] = {
    "walk_min": 3,
    "access_m": 1,
    "nearest_site_m": 1,
}
"""Digits of the measurement columns in the CSV and Excel outputs; coordinates are never rounded."""

AREA_HEADERS: dict[str, str] = {
    "area": "街镇或区 area",
    "level": "层级 level (town/district)",
    "communities": "社区 communities",
    "in_area": "规划范围内 in area",
    "covered_today": "现已覆盖 covered today",
    "covered": "规划后覆盖 covered",
    "uncoverable": "无法覆盖 uncoverable",
    "outside_boundary": "规划范围外 outside boundary",
    "weight": "人口 weight",
    "covered_weight": "规划后覆盖人口 covered weight",
    "new_stations": "新建站点 new stations",
}
"""The headers of the table by area in ``plan.xlsx``: Chinese, with English beside it."""

BUNDLED_PREFIX = "bundled: "
"""How a provenance names the bundled compounds (``bundled: shanghai_compounds_amap_gcj02.csv``)."""


@dataclass(frozen=True)
class Provenance:
    """Where a plan's inputs came from, kept in ``summary.json`` under ``inputs``.

    A report names these sources and rereads them to draw the map and rerun scenarios.

    Attributes
    ----------
    osm
        The OpenStreetMap extract (a path, or the place downloaded).
    communities
        The communities' file, or ``"bundled: <file>"`` for the bundled compounds.
    crs
        Coordinate system of the communities' file.
    existing, candidates
        The existing stations' and candidate sites' files, if any.
    existing_crs, candidates_crs
        Their coordinate systems.
    boundary, boundary_crs
        The planning area's outline, if any, and its coordinate system.
    sheet
        The communities' sheet, if given.
    existing_sheet, candidates_sheet
        The sheets the existing stations and candidate sites were read from (workbooks).
    header_row, dedupe
        The communities' header row, if given, and whether repeated rows were dropped.
    columns
        The communities' columns named for fields (``{"weight": "户籍人口"}``), if any.
    selection
        For the bundled compounds: how many of the list lie in the network's area and how many
        do not (see :class:`~quarterhour.siting.bundled.AreaSelection`); only those in it are
        the plan's communities.
    reading
        How each point file was read, by role (see :class:`~quarterhour.geo.reading.Reading`):
        sheet, header row, rows skipped and why, approximate and missing weights, repeated rows,
        stations without coordinates.
    """

    osm: str
    communities: str
    crs: str = "wgs84"
    existing: str | None = None
    existing_crs: str | None = None
    candidates: str | None = None
    candidates_crs: str | None = None
    boundary: str | None = None
    boundary_crs: str = "wgs84"
    sheet: str | None = None
    existing_sheet: str | None = None
    candidates_sheet: str | None = None
    header_row: int | None = None
    dedupe: bool = False
    columns: dict[str, str] | None = None
    selection: dict[str, int] | None = None
    reading: dict[str, dict[str, object]] | None = None

    @property
    def bundled(self) -> bool:
        """Whether the communities are the bundled compounds."""
        return self.communities.startswith(BUNDLED_PREFIX.strip())

    def to_dict(self) -> dict[str, object]:
        """The provenance as a JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: object, *, source: str) -> Provenance:
        """Read a provenance back, with one clear error if it lacks the extract or communities.

        Parameters
        ----------
        values
            ``summary.json``'s ``inputs``.
        source
            Where they were read from, for the message.
        """
        if not isinstance(values, dict) or not values.get("osm") or not values.get("communities"):
            msg = (
                f"{source}: 'inputs' must name the 'osm' and 'communities' files the plan was "
                "made from"
            )
            raise InputError(msg)
        known = {item.name for item in fields(cls)}
        return cls(**{key: value for key, value in values.items() if key in known})


def write_plan(
    result: SitingResult,
    folder: str | Path,
    *,
    provenance: Provenance | None = None,
    out_crs: str = "wgs84",
    quiet: bool = True,
    copies: dict[str, str] | None = None,
) -> dict[str, Path]:
    """Write a plan folder; return the paths by kind.

    Parameters
    ----------
    result
        The solved plan.
    folder
        The output folder (created if missing).
    provenance
        Where the data came from (OSM file, point files, their CRS), kept in the summary so
        that a report can name its sources and rerun scenarios.
    out_crs
        Coordinates of ``stations.geojson``: ``"wgs84"`` (RFC 7946), ``"gcj02"`` or ``"bd09"``.
    quiet
        Hide the progress bar (files written).
    copies
        More files to put in the folder with the plan (name -> text): the inputs of a plan
        made in Python (:func:`write_model_plan`).
    """
    folder = Path(folder)
    out_crs = check_crs_name(out_crs)
    names = {
        "stations": STATIONS,
        "assignments": ASSIGNMENTS,
        "workbook": WORKBOOK,
        "summary": SUMMARY,
    }
    summary = result.summary | {
        "stations_crs": out_crs,
        "inputs": provenance.to_dict() if provenance else {},
    }
    collection = result.to_geojson(crs=out_crs)
    bar = progress_bar(total=len(names), desc="writing plan", unit="file", quiet=quiet)
    with bar, atomic_folder(folder, replaceable=PLAN_FILES) as temporary:
        text = json.dumps(collection, ensure_ascii=False, indent=1)
        (temporary / STATIONS).write_text(text, encoding="utf-8")
        bar.update()
        write_csv(result.assignments, temporary / ASSIGNMENTS, decimals=MEASURE_DECIMALS)
        bar.update()
        write_workbook(
            plan_sheets(result, summary), temporary / WORKBOOK, decimals=MEASURE_DECIMALS
        )
        bar.update()
        text = json.dumps(summary, ensure_ascii=False, indent=1)
        (temporary / SUMMARY).write_text(text, encoding="utf-8")
        for name, content in (copies or {}).items():
            (temporary / name).write_text(content, encoding="utf-8")
        bar.update()
    return {kind: folder / name for kind, name in names.items()}


def write_model_plan(
    result: SitingResult,
    folder: str | Path,
    *,
    points: Mapping[str, PointSet | pd.DataFrame | None],
    boundary: shapely.Geometry | None,
    osm: str,
    out_crs: str = "wgs84",
    quiet: bool = True,
) -> dict[str, Path]:
    """Write a plan made in Python, with its inputs, so that ``quarterhour report`` reads it.

    The point sets (``communities.input.csv`` ..., WGS84 at full precision, every id as the
    plan has it) and the boundary (``boundary.input.geojson``) are written into the folder;
    ``summary.json``'s ``inputs`` names them and the OSM extract. ``CoverageModel.write`` calls
    this with its own points.

    Parameters
    ----------
    result
        The solved plan.
    folder
        The output folder.
    points
        The point sets by role (``communities``, ``existing``, ``candidates``; None where none),
        PointSets or frames.
    boundary
        The planning area (WGS84), if any.
    osm
        The OSM extract the network came from.
    out_crs
        Coordinates of ``stations.geojson``.
    quiet
        Hide the progress bar.
    """
    from quarterhour.geo.points import PointSet, as_point_set

    copies: dict[str, str] = {}
    named: dict[str, str | None] = {}
    for role, given in points.items():
        if given is None:
            named[role] = None
            continue
        point_set = given if isinstance(given, PointSet) else as_point_set(given, role=role)
        copies[INPUT_COPIES[role]] = _points_csv(point_set)
        named[role] = INPUT_COPIES[role]
    boundary_name = None
    if boundary is not None:
        import shapely

        boundary_name = INPUT_COPIES["boundary"]
        copies[boundary_name] = shapely.to_geojson(boundary)
    provenance = Provenance(
        osm=osm,
        communities=named.get("communities") or "",
        existing=named.get("existing"),
        existing_crs="wgs84" if named.get("existing") else None,
        candidates=named.get("candidates"),
        candidates_crs="wgs84" if named.get("candidates") else None,
        boundary=boundary_name,
    )
    return write_plan(
        result, folder, provenance=provenance, out_crs=out_crs, quiet=quiet, copies=copies
    )


def point_readings(**point_sets: PointSet | None) -> dict[str, dict[str, object]]:
    """How each point file was read (``summary.json``'s ``inputs.reading``), by role."""
    return {
        role: points.reading.to_dict()
        for role, points in point_sets.items()
        if points is not None and points.reading is not None
    }


def osm_of_network(source: str, path: str | None) -> str:
    """The extract a network was loaded from, as well as it is known: its path, else its name.

    Parameters
    ----------
    source
        The network's ``source`` (a file name).
    path
        The path it was loaded from, if known.
    """
    if path:
        return str(Path(path).resolve())
    if source == settings.default_osm:
        return str(settings.default_osm_path())
    return str(Path(source).resolve()) if Path(source).exists() else source


def _points_csv(points: PointSet) -> str:
    """A point set as CSV text: id, name, lon, lat (WGS84, exact), weight and its areas."""
    table = pd.DataFrame(
        {
            "id": points.ids,
            "name": points.names,
            "lon": points.lon,
            "lat": points.lat,
            "weight": points.weight,
        }
    )
    for name in ("district", "town", "address"):
        values = points.field(name)
        if values is not None:
            table[name] = values
    return table.map(safe_text).to_csv(index=False)


def plan_sheets(result: SitingResult, summary: dict[str, Any]) -> dict[str, pd.DataFrame]:
    """The sheets of ``plan.xlsx``: new stations, communities, the table by area, the method."""
    stations = result.stations
    new = stations[stations["kind"] == "new"]
    new_sheet = pd.DataFrame(
        {
            "顺序 rank": new["rank"],
            "站点编号 station_id": new["station_id"],
            "名称 name": new["name"],
            "地址 address": new["address"],
            "区 district": new["district"],
            "街镇 town": new["town"],
            "经度 lon (input)": new["input_lon"],
            "纬度 lat (input)": new["input_lat"],
            "坐标系 crs": new["input_crs"],
            "新覆盖社区 newly covered": new["new_communities"],
            "新覆盖人口 newly covered weight": new["new_weight"],
            "服务社区 served": new["served_communities"],
            "服务人口 served weight": new["served_weight"],
        }
    )
    area = result.by_area
    area_sheet = area.rename(columns=AREA_HEADERS)
    if area.attrs.get("kind") == "district":
        area_sheet = area_sheet.rename(columns={AREA_HEADERS["area"]: "区 district"})
    facts = {
        key: summary.get(key)
        for key in (
            "objective",
            "method",
            "minutes",
            "meters",
            "speed_kmh",
            "budget",
            "communities_read",
            "n_communities",
            "n_existing",
            "n_new",
            "covered_today",
            "covered_today_share",
            "covered",
            "covered_share",
            "covered_today_weight",
            "covered_today_weight_share",
            "covered_weight",
            "covered_weight_share",
            "total_weight",
            "uncoverable",
            "lower_bound",
            "upper_bound",
            "bound_kind",
            "gap",
            "gap_note",
            "stations_outside_boundary_serve",
            "mean_walk_min",
            "longest_walk_min",
            "stations_crs",
            "attribution",
        )
    }
    facts |= {key: summary[key] for key in ("capacity", "staffing") if summary.get(key)}
    facts |= {f"status: {key}": value for key, value in summary["status_counts"].items()}
    facts |= {f"count: {key}": text for key, text in summary["count_definitions"].items()}
    facts |= {f"input: {key}": value for key, value in (summary.get("inputs") or {}).items()}
    facts |= {f"warning {k}": text for k, text in enumerate(summary.get("warnings") or [], 1)}
    method = pd.DataFrame(
        {"项目 item": list(facts), "值 value": [_cell(value) for value in facts.values()]}
    )
    area_name = "按街镇 By town" if area.attrs.get("kind") == "town" else "按区 By district"
    return {
        "新建站点 New stations": new_sheet,
        "社区 Communities": result.assignments,
        area_name: area_sheet,
        **staffing_sheets(stations, summary),
        "说明 Inputs and method": method,
    }


def _cell(value: object) -> object:
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return "" if value is None else value


@dataclass(frozen=True)
class PlanFolder:
    """A plan folder read back (or a plan in memory): the summary, stations and assignments."""

    folder: Path
    summary: dict[str, Any]
    stations: dict[str, Any]
    assignments: pd.DataFrame

    @classmethod
    def of_result(
        cls, result: SitingResult, *, provenance: Provenance, folder: str | Path = "."
    ) -> PlanFolder:
        """The plan folder ``result`` would be written as, without writing it."""
        summary = result.summary | {"inputs": provenance.to_dict()}
        return cls(Path(folder), summary, result.to_geojson(), result.assignments.copy())

    @property
    def provenance(self) -> Provenance:
        """Where the plan's inputs came from."""
        return Provenance.from_dict(self.summary.get("inputs"), source=str(self.folder / SUMMARY))


def read_plan(folder: str | Path) -> PlanFolder:
    """Read a plan folder written by :func:`write_plan`, with one clear error if incomplete."""
    folder = Path(folder)
    if not folder.is_dir():
        msg = f"{folder}: plan folder not found (run `quarterhour plan -o {folder}` first)"
        raise InputError(msg)
    missing = [name for name in (SUMMARY, STATIONS, ASSIGNMENTS) if not (folder / name).is_file()]
    if missing:
        msg = f"{folder}: not a complete plan folder, missing {', '.join(missing)}"
        raise InputError(msg)
    try:
        summary = json.loads((folder / SUMMARY).read_text(encoding="utf-8"))
        stations = json.loads((folder / STATIONS).read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        msg = f"{folder}: broken JSON ({error.msg} at line {error.lineno})"
        raise InputError(msg) from error
    assignments = pd.read_csv(folder / ASSIGNMENTS, dtype={"community_id": str, "station_id": str})
    return PlanFolder(folder=folder, summary=summary, stations=stations, assignments=assignments)


def _typed_assignments(table: pd.DataFrame) -> pd.DataFrame:
    """The result columns of ``assignments.csv`` back as numbers and flags (the rest as text)."""
    typed = table.copy()
    for column in (
        "weight",
        "walk_min",
        "access_m",
        "nearest_site_m",
        "served_weight",
        "unserved_weight",
    ):
        if column in typed:
            typed[column] = pd.to_numeric(typed[column].replace("", "nan"), errors="coerce")
    for column in ("covered", "covered_today", "coverable"):
        if column in typed:
            typed[column] = typed[column].str.lower().eq("true")
    return typed
