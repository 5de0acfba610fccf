"""The report's figures and tables, computed from a plan and its inputs, formatted for print.

Numbers are rounded here, once, for the reader: whole communities, walk times to a tenth of a
minute, coordinates to six decimals (about 0.1 m), shares to a tenth of a percent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from quarterhour.api.report.i18n import (
    district_name,
    fmt_bound,
    fmt_int,
    fmt_minutes,
    fmt_num,
    fmt_pct,
    limit_text,
    texts,
)
from quarterhour.api.report.scenarios import quiet_solver_log
from quarterhour.geo.crs import convert
from quarterhour.settings import minutes_to_metres
from quarterhour.siting.reasons import reason_text

if TYPE_CHECKING:
    from quarterhour.api.report.inputs import PlanInputs

GROUP_COLUMNS: tuple[str, ...] = (
    "streetname",
    "street",
    "town",
    "街镇",
    "街道",
    "乡镇",
    "township",
    "subdistrict",
)
"""Community columns (any case) naming the town or street a community belongs to, preferred first."""

AT_COMMUNITY_M = 1.0
"""A station this close to a community stands at it (candidate sites default to the communities)."""

MAX_UNCOVERABLE_ROWS = 300
"""At most this many uncoverable communities are listed; the rest are counted."""


@dataclass(frozen=True)
class Grouping:
    """How communities are grouped in the per-town table.

    Attributes
    ----------
    labels
        One group name per community (plan order).
    column
        The column the names came from.
    by_district
        Whether the groups are districts from ``adcode`` (the bundled compounds).
    """

    labels: np.ndarray
    column: str
    by_district: bool


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
        One dict per town/street (or district), then a total row; empty without a grouping.
    grouping
        How the groups were formed, or None.
    uncoverable
        One dict per uncoverable community (at most ``MAX_UNCOVERABLE_ROWS``).
    n_uncoverable
        How many communities are uncoverable in all.
    show_nearest
        Whether some station stands away from every community (so the nearest one is worth naming).
    weighted
        Whether the communities carry weights other than 1 (residents).
    """

    headline: dict[str, str]
    bound: dict[str, float | int | None]
    stations: list[dict[str, str]]
    groups: list[dict[str, str]]
    grouping: Grouping | None
    uncoverable: list[dict[str, str]]
    n_uncoverable: int
    weighted: bool
    show_nearest: bool
    covered_today: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, bool))


def covered_today_mask(data: PlanInputs) -> np.ndarray:
    """Which communities an existing station covers within the plan's limit (plan order)."""
    summary = data.summary
    n = len(data.communities)
    if data.existing is None or int(summary["n_existing"]) == 0:
        return np.zeros(n, bool)
    from quarterhour.siting.audit import coverage_audit

    with quiet_solver_log():  # its warnings concern today's stations, not the plan
        audit = coverage_audit(
            data.network,
            data.communities,
            data.existing,
            minutes=data.minutes,
            speed_kmh=data.speed_kmh,
            meters=summary.get("meters"),
            quiet=True,
        )
    covered = audit.communities.set_index("community_id")["covered"]
    return covered.reindex(data.communities.ids).fillna(value=False).to_numpy(bool)


def find_grouping(data: PlanInputs, *, lang: str) -> Grouping | None:
    """The communities' town/street column, else their district from ``adcode``, else None."""
    extra = data.communities.extra
    by_lower = {str(name).lower(): name for name in extra.columns}
    for wanted in GROUP_COLUMNS:
        if wanted in by_lower:
            column = by_lower[wanted]
            unknown = texts(lang)["unknown_group"]
            labels = extra[column].astype("string").fillna("").str.strip().replace("", unknown)
            return Grouping(labels.to_numpy(object), str(column), by_district=False)
    if "adcode" in by_lower:
        codes = extra[by_lower["adcode"]].astype("string").fillna("")
        labels = np.array([district_name(code, lang=lang) for code in codes], dtype=object)
        return Grouping(labels, str(by_lower["adcode"]), by_district=True)
    return None


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
    weighted = not np.allclose(data.communities.weight, 1.0)
    today = covered_today_mask(data)
    grouping = find_grouping(data, lang=lang)
    nearest = _nearest_community(data)
    stations = _station_rows(data, nearest, weighted=weighted, lang=lang)
    groups = _group_rows(data, grouping, today, nearest, lang=lang) if grouping is not None else []
    uncoverable, n_uncoverable = _uncoverable_rows(data, grouping, lang=lang)
    bound = _bound(summary)
    n = int(summary["n_communities"])
    headline = {
        "communities": fmt_int(n),
        "covered_today": fmt_int(today.sum()),
        "covered_today_share": fmt_pct(today.sum() / n if n else 0.0),
        "n_existing": fmt_int(summary["n_existing"]),
        "n_new": fmt_int(summary["n_new"]),
        "covered": fmt_int(summary["covered"]),
        "covered_share": fmt_pct(
            summary.get("covered_share", int(summary["covered"]) / n if n else 0.0)
        ),
        "uncoverable": fmt_int(summary["uncoverable"]),
        "lower_bound": fmt_bound(bound["value"]),
        "lower_bound_ceil": fmt_int(bound["ceil"]),
        "gap": fmt_pct(bound["gap"]),
        "speed_kmh": fmt_num(summary["speed_kmh"], 1),
        "per_minute": fmt_int(minutes_to_metres(1.0, data.speed_kmh)),
        "minutes": fmt_num(summary.get("minutes"), 1),
        "metres": fmt_int(_limit_metres(data)),
        "limit": limit_text(
            minutes=summary.get("minutes"), meters=summary.get("meters"), lang=lang
        ),
        "weight_covered": fmt_int(summary.get("covered_weight")),
    }
    show_nearest = bool(len(nearest)) and bool((nearest["distance_m"] >= AT_COMMUNITY_M).any())
    return ReportTables(
        headline,
        bound,
        stations,
        groups,
        grouping,
        uncoverable,
        n_uncoverable,
        weighted,
        show_nearest,
        today,
    )


def _limit_metres(data: PlanInputs) -> float:
    meters = data.summary.get("meters")
    return float(meters) if meters is not None else minutes_to_metres(data.minutes, data.speed_kmh)  # type: ignore[arg-type]


def _bound(summary: dict[str, object]) -> dict[str, float | int | None]:
    """The bound of the plan, its whole-station ceiling and the gap."""
    value = (
        summary.get("lower_bound")
        if summary["objective"] == "min_cover"
        else summary.get("upper_bound")
    )
    number = float(value) if value is not None else None
    ceil = (
        math.ceil(number - 1e-6)
        if number is not None and summary["objective"] == "min_cover"
        else None
    )
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
    rows = []
    for feature in data.plan.stations.get("features", []):
        geometry = feature.get("geometry") or {}
        lon, lat = (geometry.get("coordinates") or [math.nan, math.nan])[:2]
        rows.append(dict(feature.get("properties") or {}) | {"lon": float(lon), "lat": float(lat)})
    if not rows:
        return pd.DataFrame(columns=["station_id", "name", "kind", "rank", "lon", "lat"])
    return pd.DataFrame(rows)


def _station_rows(
    data: PlanInputs, nearest: pd.DataFrame, *, weighted: bool, lang: str
) -> list[dict[str, str]]:
    new = new_station_frame(data)
    if new.empty:
        return []
    gcj_lon, gcj_lat = convert(
        new["lon"].to_numpy(float), new["lat"].to_numpy(float), src="wgs84", dst="gcj02"
    )
    assignments = data.plan.assignments
    walks = assignments[assignments["covered"].astype(bool)].groupby("station_id")["walk_min"]
    median, longest = walks.median(), walks.max()
    address = _text_column(data.communities.extra, "address")
    words = texts(lang)
    rows = []
    for k, station in new.iterrows():
        position = int(nearest.loc[k, "position"])
        station_id = str(station["station_id"])
        distance = float(nearest.loc[k, "distance_m"])
        at_community = distance < AT_COMMUNITY_M
        nearest_name = str(data.communities.names[position])
        rows.append(
            {
                "rank": fmt_int(station["rank"]),
                "name": str(station.get("name") or station_id),
                "location": f"{gcj_lon[k]:.6f}, {gcj_lat[k]:.6f}",
                "nearest": words["at_station"]
                if at_community
                else words["metres_away"].format(name=nearest_name, m=fmt_int(distance)),
                "address": address[position],
                "new_communities": fmt_int(station["new_communities"]),
                "new_weight": fmt_int(station["new_weight"]) if weighted else "",
                "served": fmt_int(station.get("served_communities")),
                "walk": f"{fmt_minutes(median.get(station_id))} / {fmt_minutes(longest.get(station_id))}",
            }
        )
    return rows


def _text_column(extra: pd.DataFrame, name: str) -> np.ndarray:
    """A column of ``extra`` (any case) as clean strings, or empty strings if absent."""
    by_lower = {str(column).lower(): column for column in extra.columns}
    if name not in by_lower:
        return np.full(len(extra), "", dtype=object)
    values = extra[by_lower[name]].astype("string").fillna("").str.strip()
    return values.to_numpy(object)


def _group_rows(
    data: PlanInputs, grouping: Grouping, today: np.ndarray, nearest: pd.DataFrame, *, lang: str
) -> list[dict[str, str]]:
    assignments = data.plan.assignments
    frame = pd.DataFrame(
        {
            "group": grouping.labels,
            "today": today,
            "covered": assignments["covered"].astype(bool).to_numpy(),
            "uncoverable": ~assignments["coverable"].astype(bool).to_numpy(),
        }
    )
    station_groups = pd.Series(grouping.labels[nearest["position"].to_numpy(int)]).value_counts()
    table = frame.groupby("group", sort=False).agg(
        communities=("group", "size"),
        today=("today", "sum"),
        covered=("covered", "sum"),
        uncoverable=("uncoverable", "sum"),
    )
    table["new_stations"] = station_groups.reindex(table.index).fillna(0).astype(int)
    table = table.sort_values(["communities"], ascending=False)
    table.loc[texts(lang)["total"]] = table.sum()
    return [
        {
            "group": str(name),
            "communities": fmt_int(row.communities),
            "today": f"{fmt_int(row.today)} ({fmt_pct(row.today / row.communities)})",
            "covered": f"{fmt_int(row.covered)} ({fmt_pct(row.covered / row.communities)})",
            "new_stations": fmt_int(row.new_stations),
            "uncoverable": fmt_int(row.uncoverable),
        }
        for name, row in table.iterrows()
    ]


def _uncoverable_rows(
    data: PlanInputs, grouping: Grouping | None, *, lang: str
) -> tuple[list[dict[str, str]], int]:
    assignments = data.plan.assignments
    mask = ~assignments["coverable"].astype(bool).to_numpy()
    summary = data.summary
    limit = limit_text(minutes=summary.get("minutes"), meters=summary.get("meters"), lang=lang)
    rows = []
    for position in np.flatnonzero(mask)[:MAX_UNCOVERABLE_ROWS]:
        record = assignments.iloc[position]
        rows.append(
            {
                "name": str(record["community_name"]),
                "group": str(grouping.labels[position]) if grouping is not None else "",
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
