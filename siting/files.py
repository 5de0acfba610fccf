"""The plan folder: what ``quarterhour plan`` writes and ``quarterhour report`` reads.

``stations.geojson`` (existing and new stations, WGS84), ``assignments.csv`` (every
community's nearest station and walk time), ``summary.json`` (headline figures, the parameters,
the provenance of the inputs and the attribution). Each file is written atomically, and
``summary.json`` last: a folder with a summary is complete.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from quarterhour.geo.atomic import write_text
from quarterhour.geo.errors import InputError

if TYPE_CHECKING:
    from quarterhour.siting.result import SitingResult

STATIONS = "stations.geojson"
ASSIGNMENTS = "assignments.csv"
SUMMARY = "summary.json"

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

    @property
    def bundled(self) -> bool:
        """Whether the communities are the bundled compounds."""
        return self.communities.startswith(BUNDLED_PREFIX.strip())

    def to_dict(self) -> dict[str, object]:
        """The provenance as a JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, object], *, source: str) -> Provenance:
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
    result: SitingResult, folder: str | Path, *, provenance: Provenance | None = None
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
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        msg = f"{folder}: exists and is not a folder"
        raise InputError(msg)
    paths = {
        "stations": folder / STATIONS,
        "assignments": folder / ASSIGNMENTS,
        "summary": folder / SUMMARY,
    }
    summary = result.summary | {"inputs": provenance.to_dict() if provenance else {}}
    write_text(paths["stations"], json.dumps(result.to_geojson(), ensure_ascii=False, indent=1))
    write_text(paths["assignments"], result.assignments_csv())
    write_text(paths["summary"], json.dumps(summary, ensure_ascii=False, indent=1))
    return paths


@dataclass(frozen=True)
class PlanFolder:
    """A plan folder read back (or a plan in memory): the summary, stations and assignments."""

    folder: Path
    summary: dict[str, object]
    stations: dict[str, object]
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
