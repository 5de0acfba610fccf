"""The report's figures and tables, from a plan and its inputs, formatted for print.

Every number printed comes from the plan's ``summary.json`` or from its tables
(``assignments.csv``, ``stations.geojson``) and is rounded here, once, for the reader: whole
communities, walk times to a tenth of a minute, shares to a tenth of a percent, each share with
what it counts; coordinates are printed as the input gave them. The table by area is
``summary.json``'s own ``by_area``, so the report and the summary cannot disagree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from quarterhour.api.report.i18n import (
    area_name,
    fmt_bound,
    fmt_int,
    fmt_minutes,
    fmt_num,
    fmt_pct,
    limit_text,
    texts,
)
from quarterhour.geo.crs import convert
from quarterhour.settings import minutes_to_metres
from quarterhour.siting.reasons import reason_text

if TYPE_CHECKING:
    from quarterhour.api.report.inputs import PlanInputs

AT_COMMUNITY_M = 1.0
"""A station this close to a community stands at it (candidate sites default to the communities)."""

MAX_UNCOVERABLE_ROWS = 300
"""At most this many uncoverable communities are listed; the rest are counted."""


@dataclass
class ReportTables:
    """Everything the report prints, as display strings.

    Attributes
    ----------
    headline
        The summary figures (communities, covered today, new stations, bound ...), formatted.
    bound
        The raw lower bound (or upper bound of ``max_cover``), its ceiling and the gap.
    stations
        One dict per new station, in pick order.
    groups
        One dict per town/street (or district), then a total row; empty without areas.
    area_kind
        ``"town"`` or ``"district"``: what the groups are, or None.
    uncoverable
        One dict per uncoverable community (at most ``MAX_UNCOVERABLE_ROWS``).
    n_uncoverable
        How many communities are uncoverable in all.
    inactive
        One dict per existing station that covers nothing (off the network, outside the area).
    show_nearest
        Whether some station stands away from every community (so the nearest one is worth naming).
    staffing
        With a capacity: summary.json's ``staffing_by_area`` with a total row (else empty).
    staffing_kind
        ``"town"`` or ``"district"``: what the staffing table groups by.
    weighted
        Whether the communities carry weights other than 1 (residents).
    """

    headline: dict[str, str]
    bound: dict[str, float | int | None]
    stations: list[dict[str, str]]
    groups: list[dict[str, str]]
    area_kind: str | None
    uncoverable: list[dict[str, str]]
    n_uncoverable: int
    inactive: list[dict[str, str]]
    weighted: bool
    show_nearest: bool
    staffing: list[dict[str, str]] = field(default_factory=list)
    staffing_kind: str | None = None


def build_tables(data: PlanInputs, *, lang: str) -> ReportTables:
    """Compute the report's figures and tables.

    Parameters
    ----------
    data
        The plan and its inputs.
    lang
        The report language.
    """
    summary = data.summary
    weighted = not np.allclose(data.plan.assignments["weight"].to_numpy(float), 1.0)
    nearest = _nearest_community(data)
    stations = _station_rows(data, nearest, weighted=weighted, lang=lang)
    groups = _group_rows(summary, lang=lang)
    uncoverable, n_uncoverable = _uncoverable_rows(data, lang=lang)
    bound = _bound(summary)
    n = int(summary["n_communities"])
    counts = summary.get("status_counts") or {}
    words = texts(lang)
    today_weight, today_share = _today_weight(data)
    bound_is_lower = summary["objective"] == "min_cover"
    limit = limit_text(minutes=summary.get("minutes"), meters=summary.get("meters"), lang=lang)
    headline = {
        "communities": fmt_int(n),
        "communities_read": fmt_int(summary.get("communities_read", n)),
        "outside": fmt_int(counts.get("outside_boundary", 0)),
        "covered_today": fmt_int(summary.get("covered_today", 0)),
        "covered_today_share": words["share_of_communities"].format(
            pct=fmt_pct(int(summary.get("covered_today", 0)) / n if n else 0.0)
        ),
        "n_existing": fmt_int(summary["n_existing"]),
        "n_new": fmt_int(summary["n_new"]),
        "covered": fmt_int(summary["covered"]),
        "covered_share": words["share_of_communities"].format(
            pct=fmt_pct(summary.get("covered_share", 0.0))
        ),
        "uncoverable": fmt_int(summary["uncoverable"]),
        "lower_bound": fmt_bound(bound["value"]),
        "lower_bound_ceil": fmt_int(bound["ceil"]),
        "upper_bound": fmt_int(summary.get("upper_bound")),
        "gap": fmt_pct(bound["gap"]),
        "speed_kmh": fmt_num(summary["speed_kmh"], 1),
        "per_minute": fmt_int(minutes_to_metres(1.0, data.speed_kmh)),
        "minutes": fmt_num(summary.get("minutes"), 1),
        "metres": fmt_int(_limit_metres(data)),
        "limit": limit,
        "weight_covered": fmt_int(summary.get("covered_weight")),
        "weight_total": fmt_int(summary.get("total_weight")),
        "weight_share": fmt_pct(summary.get("covered_weight_share")),
        "weight_today": fmt_int(today_weight),
        "weight_today_share": fmt_pct(today_share),
        "gap_label": words["gap"] if bound_is_lower else words["gap_upper"],
        "budget": fmt_int(summary.get("budget")),
    }
    show_nearest = bool(len(nearest)) and bool((nearest["distance_m"] >= AT_COMMUNITY_M).any())
    return ReportTables(
        headline,
        bound,
        stations,
        groups,
        summary.get("by_area_kind"),
        uncoverable,
        n_uncoverable,
        _inactive_rows(data, lang=lang),
        weighted,
        show_nearest,
        staffing=_staffing_rows(summary, lang=lang),
        staffing_kind=next(
            (area.get("kind") for area in summary.get("staffing_by_area") or []), None
        ),
    )


def _today_weight(data: PlanInputs) -> tuple[float, float]:
    """Residents (weight) the existing stations cover today, and their share of all in the area."""
    summary = data.summary
    if summary.get("covered_today_weight") is not None:
        return float(summary["covered_today_weight"]), float(
            summary.get("covered_today_weight_share") or 0.0
        )
    table = data.plan.assignments
    in_area = table["status"].astype(str).to_numpy() != "outside_boundary"
    weight = table["weight"].to_numpy(float)
    today = float(weight[in_area & table["covered_today"].astype(bool).to_numpy()].sum())
    total = float(weight[in_area].sum())
    return today, today / total if total > 0 else 0.0


def _limit_metres(data: PlanInputs) -> float:
    meters = data.summary.get("meters")
    if meters is not None:
        return float(meters)
    return minutes_to_metres(data.minutes, data.speed_kmh)


def _bound(summary: dict[str, Any]) -> dict[str, float | int | None]:
    """The bound of the plan, its whole-station ceiling and the gap."""
    minimum = summary["objective"] == "min_cover"
    value = summary.get("lower_bound") if minimum else summary.get("upper_bound")
    number = float(value) if value is not None else None
    ceil = math.ceil(number - 1e-6) if number is not None and minimum else None
    gap = summary.get("gap")
    return {"value": number, "ceil": ceil, "gap": float(gap) if gap is not None else None}


def _nearest_community(data: PlanInputs) -> pd.DataFrame:
    """For every new station: the position of its nearest community and the distance in metres."""
    new = new_station_frame(data)
    if new.empty:
        return pd.DataFrame(
            {"position": pd.Series(dtype=int), "distance_m": pd.Series(dtype=float)}
        )
    projection = data.network.projection
    cx, cy = projection.forward(data.communities.lon, data.communities.lat)
    sx, sy = projection.forward(new["lon"].to_numpy(float), new["lat"].to_numpy(float))
    distance, position = cKDTree(np.column_stack([cx, cy])).query(np.column_stack([sx, sy]))
    return pd.DataFrame({"position": position, "distance_m": distance}, index=new.index)


def new_station_frame(data: PlanInputs) -> pd.DataFrame:
    """The plan's new stations in pick order: properties, ``lon``/``lat`` (WGS84)."""
    return station_frame(data).query("kind == 'new'").sort_values("rank").reset_index(drop=True)


def station_frame(data: PlanInputs) -> pd.DataFrame:
    """Every station of ``stations.geojson``: its properties and ``lon``/``lat`` (WGS84)."""
    collection = data.plan.stations
    rows = []
    for feature in collection.get("features", []):
        geometry = feature.get("geometry") or {}
        lon, lat = (geometry.get("coordinates") or [math.nan, math.nan])[:2]
        rows.append(dict(feature.get("properties") or {}) | {"lon": float(lon), "lat": float(lat)})
    if not rows:
        return pd.DataFrame(columns=["station_id", "name", "kind", "status", "rank", "lon", "lat"])
    frame = pd.DataFrame(rows)
    crs = str(collection.get("crs") or "wgs84")
    if crs != "wgs84":
        frame["lon"], frame["lat"] = convert(
            frame["lon"].to_numpy(float), frame["lat"].to_numpy(float), src=crs, dst="wgs84"
        )
    return frame


def _station_rows(
    data: PlanInputs, nearest: pd.DataFrame, *, weighted: bool, lang: str
) -> list[dict[str, str]]:
    new = new_station_frame(data)
    if new.empty:
        return []
    location = station_locations(data, new)
    assignments = data.plan.assignments
    walks = assignments[assignments["covered"]].groupby("station_id")["walk_min"]
    median, longest = walks.median(), walks.max()
    community_address = data.communities.field("address")
    words = texts(lang)
    rows = []
    for k, (_, station) in enumerate(new.iterrows()):
        position = int(nearest.loc[k, "position"])  # type: ignore[arg-type]  # pandas-stubs: a cell is any scalar
        station_id = str(station["station_id"])
        distance = float(nearest.loc[k, "distance_m"])  # type: ignore[arg-type]  # pandas-stubs: a cell is any scalar
        nearest_name = str(data.communities.names[position])
        address = str(station.get("address") or "")
        if not address and community_address is not None and distance < AT_COMMUNITY_M:
            address = str(community_address[position])
        rows.append(
            {
                "rank": fmt_int(station["rank"]),
                "name": str(station.get("name") or station_id),
                "location": location[k],
                "nearest": words["at_station"]
                if distance < AT_COMMUNITY_M
                else words["metres_away"].format(name=nearest_name, m=fmt_int(distance)),
                "address": address,
                "new_communities": fmt_int(station["new_communities"]),
                "new_weight": fmt_int(station["new_weight"]) if weighted else "",
                "served": fmt_int(station.get("served_communities")),
                "walk": f"{fmt_minutes(median.get(station_id))} / "
                f"{fmt_minutes(longest.get(station_id))}",
            }
        )
    return rows


def station_crs(data: PlanInputs, stations: pd.DataFrame) -> str:
    """The coordinate system the stations' file(s) gave: one name, or ``""`` where mixed."""
    if "input_crs" in stations and stations["input_crs"].astype(str).str.len().gt(0).all():
        systems = set(stations["input_crs"].astype(str))
    else:
        systems = {str(data.provenance.candidates_crs or data.provenance.crs)}
    return systems.pop() if len(systems) == 1 else ""


def station_locations(data: PlanInputs, stations: pd.DataFrame) -> list[str]:
    """Each station's ``lon, lat`` in its input's own system, as the file gave them.

    A plan folder of an earlier version has no ``input_lon``: its WGS84 points are converted to
    the communities' system (six decimals). Where the systems are mixed, each says its own.
    """
    mixed = station_crs(data, stations) == ""
    locations = []
    for row in stations.itertuples(index=False):
        given_lon, given_lat = getattr(row, "input_lon", ""), getattr(row, "input_lat", "")
        if isinstance(given_lon, str) and given_lon and isinstance(given_lat, str) and given_lat:
            crs, text = str(row.input_crs), f"{given_lon}, {given_lat}"
        else:
            crs = str(data.provenance.candidates_crs or data.provenance.crs)
            lon, lat = convert(float(row.lon), float(row.lat), src="wgs84", dst=crs)  # type: ignore[arg-type]  # pandas-stubs: a cell is any scalar
            text = f"{float(lon):.6f}, {float(lat):.6f}"
        locations.append(f"{text} ({crs})" if mixed else text)
    return locations


def _group_rows(summary: dict[str, Any], *, lang: str) -> list[dict[str, str]]:
    """The table by area, from ``summary.json``'s ``by_area``, with a total row."""
    areas = pd.DataFrame(summary.get("by_area") or [])
    if areas.empty:
        return []
    words = texts(lang)
    numbers = areas.drop(columns=[name for name in ("area", "level") if name in areas])
    total = pd.DataFrame([{"area": words["total"], "level": "", **numbers.sum()}])
    table = pd.concat([areas, total], ignore_index=True)
    rows = []
    for row in table.itertuples(index=False):
        planned = int(row.communities) - int(row.outside_boundary)  # type: ignore[arg-type]  # pandas-stubs: a cell is any scalar
        rows.append(
            {
                "group": _group_name(row.area, getattr(row, "level", ""), summary, lang=lang),
                "communities": fmt_int(planned),
                "today": f"{fmt_int(row.covered_today)} ({fmt_pct(_share(row.covered_today, planned))})",
                "covered": f"{fmt_int(row.covered)} ({fmt_pct(_share(row.covered, planned))})",
                "new_stations": fmt_int(row.new_stations),
                "uncoverable": fmt_int(row.uncoverable),
                "outside": fmt_int(row.outside_boundary),
            }
        )
    return rows


def _group_name(area: object, level: object, summary: dict[str, object], *, lang: str) -> str:
    """A group's name; a district standing in for rows without a town says so."""
    words = texts(lang)
    name = area_name(area, lang=lang) or words["unknown_group"]
    if summary.get("by_area_kind") == "town" and level == "district":
        return words["district_fallback"].format(name=name)
    return name


def _staffing_rows(summary: dict[str, Any], *, lang: str) -> list[dict[str, str]]:
    """The staffing table by area, from ``summary.json``'s ``staffing_by_area``, with a total."""
    areas = pd.DataFrame(summary.get("staffing_by_area") or [])
    if areas.empty:
        return []
    words = texts(lang)
    figures = areas.drop(columns=["kind", "area"])
    table = pd.concat([areas, pd.DataFrame([{"area": words["total"], **figures.sum()}])])
    return [
        {
            "group": area_name(row.area, lang=lang) or words["unknown_group"],
            "stations": fmt_int(row.stations),
            "aides": fmt_int(row.aides),
            "aides_needed": fmt_int(row.aides_needed),
            "shortfall": fmt_int(row.shortfall),
            "served_weight": fmt_int(row.served_weight),
            "over_capacity": fmt_int(row.over_capacity),
        }
        for row in table.itertuples(index=False)
    ]


def _share(part: object, whole: int) -> float:
    return float(part) / whole if whole else 0.0  # type: ignore[arg-type]  # a count of the table


def _uncoverable_rows(data: PlanInputs, *, lang: str) -> tuple[list[dict[str, str]], int]:
    assignments = data.plan.assignments
    mask = assignments["status"].isin(["uncoverable", "off_network"]).to_numpy()
    summary = data.summary
    limit = limit_text(minutes=summary.get("minutes"), meters=summary.get("meters"), lang=lang)
    kind = summary.get("by_area_kind")
    rows = []
    for position in np.flatnonzero(mask)[:MAX_UNCOVERABLE_ROWS]:
        record = assignments.iloc[position]
        rows.append(
            {
                "name": str(record["community_name"]),
                "group": (
                    area_name(record[kind], lang=lang) or area_name(record["district"], lang=lang)
                    if kind
                    else ""
                ),
                "reason": reason_text(
                    record.get("reason"),
                    access_m=float(record.get("access_m")),
                    nearest_site_m=float(record.get("nearest_site_m")),
                    limit=limit,
                    lang=lang,
                ),
                "access_m": fmt_int(record.get("access_m")),
                "nearest_site_m": fmt_int(record.get("nearest_site_m")),
            }
        )
    return rows, int(mask.sum())


def _inactive_rows(data: PlanInputs, *, lang: str) -> list[dict[str, str]]:
    """Existing stations that cover nothing: off the network or outside the area."""
    stations = station_frame(data)
    if stations.empty or "status" not in stations:
        return []
    words = texts(lang)
    inactive = stations[(stations["kind"] == "existing") & (stations["status"] != "active")]
    return [
        {"name": str(row.name), "status": words[f"station_{row.status}"]}
        for row in inactive.itertuples(index=False)
    ]
