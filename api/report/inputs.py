"""Read a plan folder back with the inputs it was planned from (network, communities, stations).

The plan folder holds the answer; the report also needs the communities' coordinates and
addresses, the streets and the point files, which ``summary.json`` names under ``inputs``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely

from geo.errors import InputError
from geo.points import PointSet, read_points
from routing import settings
from routing.network import WalkNetwork
from siting.files import SUMMARY, PlanFolder, read_plan

log = logging.getLogger("quarterhour")

REQUIRED_KEYS: tuple[str, ...] = (
    "objective", "n_communities", "n_existing", "n_new", "covered", "uncoverable", "speed_kmh", "inputs",
)
"""Keys of ``summary.json`` the report cannot do without."""

BUNDLED_PREFIX = "bundled:"
"""How ``summary.json`` names the bundled compounds (``bundled: shanghai_compounds_amap_gcj02.csv``)."""


@dataclass(frozen=True)
class PlanInputs:
    """A plan folder with what it was planned from.

    Attributes
    ----------
    plan
        The plan folder read back.
    network
        The walking network (clipped to the plan's boundary, if it had one).
    communities
        The plan's communities, in the order of ``assignments.csv``.
    existing, candidates
        The plan's existing stations and candidate sites, if it had any.
    boundary
        The planning area (WGS84) to draw, if given.
    bundled
        Whether the communities are the bundled central Shanghai compounds.
    boundary_source
        The file of ``boundary``, if the report was given one (else the plan's own).
    """

    plan: PlanFolder
    network: WalkNetwork
    communities: PointSet
    existing: PointSet | None
    candidates: PointSet | None
    boundary: shapely.Geometry | None
    bundled: bool
    boundary_source: str | None = None

    @property
    def summary(self) -> dict[str, object]:
        """The plan's ``summary.json``."""
        return self.plan.summary

    @property
    def inputs(self) -> dict[str, object]:
        """The plan's ``summary.json`` ``inputs``."""
        return self.plan.summary["inputs"]  # type: ignore[return-value]

    @property
    def minutes(self) -> float:
        """The plan's walk limit in minutes (the default limit for a plan made in metres)."""
        return float(self.summary.get("minutes") or settings.walk_limit_minutes)  # type: ignore[arg-type]

    @property
    def speed_kmh(self) -> float:
        """The plan's walking speed."""
        return float(self.summary["speed_kmh"])  # type: ignore[arg-type]


def read_plan_checked(folder: str | Path) -> PlanFolder:
    """Read a plan folder and check its summary has what a report needs.

    Raises
    ------
    InputError
        If the folder is missing or incomplete, or ``summary.json`` lacks a key or its inputs.
    """
    plan = read_plan(folder)
    summary = plan.summary
    if not isinstance(summary, dict):
        msg = f"{plan.folder / SUMMARY}: expected a JSON object, got {type(summary).__name__}"
        raise InputError(msg)
    missing = [key for key in REQUIRED_KEYS if key not in summary]
    if missing:
        msg = f"{plan.folder / SUMMARY}: missing {', '.join(missing)} (write it with `quarterhour plan`)"
        raise InputError(msg)
    inputs = summary["inputs"]
    if not isinstance(inputs, dict) or not inputs.get("osm") or not inputs.get("communities"):
        msg = f"{plan.folder / SUMMARY}: 'inputs' must name the 'osm' and 'communities' files the plan was made from"
        raise InputError(msg)
    if "community_id" not in plan.assignments.columns:
        msg = f"{plan.folder}: assignments.csv has no community_id column"
        raise InputError(msg)
    return plan


def load_plan_inputs(
    folder: str | Path,
    *,
    boundary: str | Path | None = None,
    boundary_crs: str = "wgs84",
) -> PlanInputs:
    """Read a plan folder and reload the network and point files named in its summary.

    Parameters
    ----------
    folder
        The plan folder (``quarterhour plan -o FOLDER``).
    boundary
        A GeoJSON outline of the planning area to draw (default: the plan's own boundary, if any).
    boundary_crs
        Coordinates of ``boundary``.

    Raises
    ------
    InputError
        If the folder, its summary or one of the inputs it names cannot be read.
    """
    from geo.boundary import read_boundary
    from routing.network import load_network

    plan = read_plan_checked(folder)
    inputs = plan.summary["inputs"]
    plan_boundary = read_boundary(_input_path(inputs, "boundary", plan), crs="wgs84") if inputs.get("boundary") else None
    network = load_network(_input_path(inputs, "osm", plan), boundary=plan_boundary)
    log.info("%s", network.describe())
    drawn = read_boundary(boundary, crs=boundary_crs) if boundary is not None else plan_boundary
    crs = str(inputs.get("crs") or "wgs84")
    bundled = str(inputs["communities"]).startswith(BUNDLED_PREFIX)
    if bundled:
        from siting.bundled import default_communities_path

        every = read_points(default_communities_path(), crs="gcj02", role="communities")
    else:
        every = read_points(_input_path(inputs, "communities", plan), crs=crs, role="communities")
    communities = _in_plan_order(every, plan)
    existing, candidates = (
        read_points(_input_path(inputs, key, plan), crs=crs, role=role) if inputs.get(key) else None
        for key, role in (("existing", "existing stations"), ("candidates", "candidate sites"))
    )
    source = str(boundary) if boundary is not None else None
    return PlanInputs(plan, network, communities, existing, candidates, drawn, bundled, source)


def _input_path(inputs: dict[str, object], key: str, plan: PlanFolder) -> Path:
    path = Path(str(inputs[key]))
    if not path.is_absolute() and not path.exists():
        path = plan.folder / path
    if not path.exists():
        msg = f"{plan.folder / SUMMARY}: inputs.{key} {inputs[key]!s} not found (the report rereads the plan's inputs)"
        raise InputError(msg)
    return path


def _in_plan_order(points: PointSet, plan: PlanFolder) -> PointSet:
    """The points of ``assignments.csv``, in its order."""
    position = {identifier: k for k, identifier in enumerate(points.ids)}
    wanted = plan.assignments["community_id"].astype(str).to_numpy()
    found = np.array([position.get(identifier, -1) for identifier in wanted], dtype=np.intp)
    if (found < 0).any():
        absent = wanted[found < 0]
        msg = (
            f"{plan.folder}: {absent.size:,} communities of assignments.csv are not in {points.source} "
            f"(e.g. {', '.join(absent[:3])}): was the plan made from another file?"
        )
        raise InputError(msg)
    return points.subset(found)


def default_osm_path() -> Path:
    """The bundled central Shanghai extract."""
    return settings.data_folder / settings.default_osm
