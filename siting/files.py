"""The plan folder: what ``quarterhour plan`` writes and ``quarterhour report`` reads.

``stations.geojson`` (existing and new stations, WGS84), ``assignments.csv`` (every
community's nearest station and walk time), ``summary.json`` (headline figures, the parameters,
the inputs and the attribution). Each file is written atomically, and ``summary.json`` last: a
folder with a summary is complete.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from geo.atomic import write_text
from geo.errors import InputError
from siting.result import SitingResult

STATIONS = "stations.geojson"
ASSIGNMENTS = "assignments.csv"
SUMMARY = "summary.json"


def write_plan(result: SitingResult, folder: str | Path, *, inputs: dict[str, object] | None = None) -> dict[str, Path]:
    """Write a plan folder; return the paths by kind.

    Parameters
    ----------
    result
        The solved plan.
    folder
        The output folder (created if missing).
    inputs
        Where the data came from (OSM file, point files, their CRS), kept in the summary so
        that a report can name its sources and rerun scenarios.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        msg = f"{folder}: exists and is not a folder"
        raise InputError(msg)
    paths = {"stations": folder / STATIONS, "assignments": folder / ASSIGNMENTS, "summary": folder / SUMMARY}
    summary = result.summary() | {"inputs": inputs or {}}
    write_text(paths["stations"], json.dumps(result.to_geojson(), ensure_ascii=False, indent=1))
    write_text(paths["assignments"], result.assignments_csv())
    write_text(paths["summary"], json.dumps(summary, ensure_ascii=False, indent=1))
    return paths


@dataclass(frozen=True)
class PlanFolder:
    """A plan folder read back: the summary, the stations and the assignments."""

    folder: Path
    summary: dict[str, object]
    stations: dict[str, object]
    assignments: pd.DataFrame


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
