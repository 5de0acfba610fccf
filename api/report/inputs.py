"""Read a plan folder back with the inputs it was planned from (network, communities, stations).

The plan folder holds the answer; the report also needs the communities' coordinates and
addresses, the streets and the point files, which ``summary.json`` names under ``inputs``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from quarterhour import settings
from quarterhour.geo.errors import InputError
from quarterhour.geo.points import PointSet, read_points
from quarterhour.siting.files import SUMMARY, PlanFolder, Provenance, read_plan

if TYPE_CHECKING:
    import shapely

    from quarterhour.routing.graph import WalkNetwork
    from quarterhour.siting.model import CoverageModel

log = logging.getLogger("quarterhour")

REQUIRED_KEYS: tuple[str, ...] = (
    "objective",
    "n_communities",
    "n_existing",
    "n_new",
    "covered",
    "uncoverable",
    "speed_kmh",
    "inputs",
)
"""Keys of ``summary.json`` the report cannot do without."""


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
    boundary_source
        The file of ``boundary``, if the report was given one (else the plan's own).
    plan_boundary
        The planning area the plan was made with (its points outside it were not planned).
    towns
        Named town/street outlines (WGS84) to draw on the overview map, if given.
    """

    plan: PlanFolder
    network: WalkNetwork
    communities: PointSet
    existing: PointSet | None
    candidates: PointSet | None
    boundary: shapely.Geometry | None
    boundary_source: str | None = None
    plan_boundary: shapely.Geometry | None = None
    towns: tuple[tuple[str, shapely.Geometry], ...] = ()

    @property
    def summary(self) -> dict[str, Any]:
        """The plan's ``summary.json``."""
        return self.plan.summary

    @property
    def provenance(self) -> Provenance:
        """Where the plan's inputs came from."""
        return self.plan.provenance

    @property
    def bundled(self) -> bool:
        """Whether the communities are the bundled central Shanghai compounds."""
        return self.provenance.bundled

    @property
    def minutes(self) -> float:
        """The plan's walk limit in minutes (the default limit for a plan made in metres)."""
        return float(self.summary.get("minutes") or settings.walk_limit_minutes)

    @property
    def speed_kmh(self) -> float:
        """The plan's walking speed."""
        return float(self.summary["speed_kmh"])


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
    plan.provenance  # noqa: B018  (raises if the inputs are not named)
    if "community_id" not in plan.assignments.columns:
        msg = f"{plan.folder}: assignments.csv has no community_id column"
        raise InputError(msg)
    return plan


def load_plan_inputs(
    folder: str | Path,
    *,
    boundary: str | Path | None = None,
    boundary_crs: str | None = None,
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
    from quarterhour.geo.boundary import read_boundary
    from quarterhour.routing.network import load_network

    plan = read_plan_checked(folder)
    source = plan.provenance
    plan_boundary = (
        read_boundary(_input_path(source.boundary, "boundary", plan), crs=source.boundary_crs)
        if source.boundary
        else None
    )
    network = load_network(
        _input_path(source.osm, "osm", plan), boundary=_network_area(plan.summary, plan_boundary)
    )
    log.info("%s", network.describe())
    drawn = (
        read_boundary(boundary, crs=boundary_crs, crs_param="boundary_crs")
        if boundary is not None
        else plan_boundary
    )
    if source.bundled:
        every = read_points(
            settings.default_communities_path(),
            crs=settings.default_communities_crs,
            role="communities",
        )
    else:
        path = _input_path(source.communities, "communities", plan)
        every = read_points(
            path,
            crs=source.crs,
            role="communities",
            sheet=source.sheet,
            columns=source.columns,
            header_row=source.header_row,
            dedupe=source.dedupe,
        )
    communities = _in_plan_order(every, plan)
    existing = candidates = None
    if source.existing:
        path = _input_path(source.existing, "existing", plan)
        existing = read_points(
            path,
            crs=source.existing_crs or source.crs,
            role="existing stations",
            sheet=source.existing_sheet,
            allow_unlocated=True,
        )
    if source.candidates:
        path = _input_path(source.candidates, "candidates", plan)
        candidates = read_points(
            path,
            crs=source.candidates_crs or source.crs,
            role="candidate sites",
            sheet=source.candidates_sheet,
            allow_unlocated=True,
        )
    shown = str(boundary) if boundary is not None else None
    return PlanInputs(plan, network, communities, existing, candidates, drawn, shown, plan_boundary)


def _network_area(
    summary: dict[str, Any], boundary: shapely.Geometry | None
) -> shapely.Geometry | None:
    """The streets the plan was made on: its boundary, grown where outside stations serve."""
    from quarterhour.siting.inputs import station_area
    from quarterhour.siting.tables import WalkLimit

    if boundary is None:
        return None
    limit = WalkLimit.checked(
        minutes=summary.get("minutes"),
        meters=summary.get("meters"),
        speed_kmh=summary.get("speed_kmh"),
    )
    return station_area(
        boundary,
        limit_m=limit.metres_walked,
        inside_only=not summary.get("stations_outside_boundary_serve", False),
    )


def plan_inputs_of_model(
    model: CoverageModel, *, boundary: shapely.Geometry | None = None
) -> PlanInputs:
    """The report's inputs of a solved model built with ``CoverageModel.from_points``.

    Parameters
    ----------
    model
        A solved model that knows its network and points.
    boundary
        The planning area (WGS84) to draw, if any.
    """
    communities = model.points.get("communities")
    if model.result is None or model.network is None or communities is None:
        msg = (
            "the report needs a solved model built from points: "
            "CoverageModel.from_points(...).solve()"
        )
        raise InputError(msg, param="plan")
    points = model.points
    provenance = Provenance(
        osm=model.network.source,
        communities=communities.source,
        existing=None if (existing := points.get("existing")) is None else existing.source,
        candidates=None if (sites := points.get("candidates")) is None else sites.source,
    )
    plan = PlanFolder.of_result(model.result, provenance=provenance, folder=".")
    ordered = _in_plan_order(communities, plan)
    drawn = boundary if boundary is not None else model.boundary
    return PlanInputs(
        plan,
        model.network,
        ordered,
        points.get("existing"),
        points.get("candidates"),
        drawn,
        None,
        model.boundary,
    )


def _input_path(value: str, key: str, plan: PlanFolder) -> Path:
    path = Path(value)
    if not path.is_absolute() and not path.exists():
        path = plan.folder / path
    if not path.exists() and key == "osm" and path.name == settings.default_osm:
        path = settings.default_osm_path()  # a plan downloaded from the workspace: the bundled one
    if not path.exists():
        msg = (
            f"{plan.folder / SUMMARY}: inputs.{key} {value} not found "
            "(the report rereads the plan's inputs: put the file there, or beside summary.json)"
        )
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
