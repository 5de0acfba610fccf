"""Staffing: a plan's or an audit's tables with capacities, aides needed and shortfalls.

Every station gets ``aides``, ``capacity`` (aides x residents per aide), ``served_weight`` (the
residents the capacitated assignment gives it), ``demand_weight`` (served, plus the unserved
residents of ``over_capacity`` communities whose nearest station it is: every resident in
reach is counted once), ``aides_needed = max(1, ceil(demand_weight / residents_per_aide))`` and
``shortfall = max(0, aides_needed - aides)``. Communities get the station serving most of them
(``station_id``), every station serving them with residents (``stations``), ``served_weight``
and ``unserved_weight``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from quarterhour.siting.capacity import Assignment, Capacity, assign_within, fully_served
from quarterhour.siting.reasons import REASONS, STATUSES, reason_text
from quarterhour.siting.result import json_scalar

if TYPE_CHECKING:
    import scipy.sparse as sp

    from quarterhour.siting.result import SitingResult
    from quarterhour.siting.tables import Communities, SiteTable, WalkLimit

RESIDENT_DECIMALS = 3
"""Residents served are rounded to this many decimals (below it is the LP's tolerance)."""


def walk_figures(assignments: pd.DataFrame) -> dict[str, float | None]:
    """Mean (weighted by residents) and longest walk of the covered communities, in minutes."""
    covered = assignments["covered"].to_numpy(bool)
    walk = assignments["walk_min"].to_numpy(float)[covered]
    weight = assignments["weight"].to_numpy(float)[covered]
    if walk.size == 0:
        return {"mean_walk_min": None, "longest_walk_min": None, "weighted_walk_min": 0.0}
    total = float(weight @ walk)
    mean = total / weight.sum() if weight.sum() > 0 else float(walk.mean())
    return {
        "mean_walk_min": mean,
        "longest_walk_min": float(walk.max()),
        "weighted_walk_min": total,
    }


def _main_station(assignment: Assignment, cost: np.ndarray) -> np.ndarray:
    """Per row, the position of the station serving most of it (ties: shorter walk), -1 if none."""
    flow = assignment.flow
    row_of = np.repeat(np.arange(flow.shape[0]), np.diff(flow.indptr))
    order = np.lexsort((cost, -flow.data, row_of))
    first = np.full(flow.shape[0], -1, np.int64)
    rows_sorted = row_of[order]
    starts: np.ndarray | list[int] = (
        np.flatnonzero(np.r_[True, rows_sorted[1:] != rows_sorted[:-1]]) if order.size else []
    )
    for start in starts:
        entry = order[start]
        if flow.data[entry] > assignment.tolerance:
            first[row_of[entry]] = flow.indices[entry]
    return first


def _community_columns(
    table: pd.DataFrame,
    sites: SiteTable,
    limit: WalkLimit,
    *,
    at: np.ndarray,
    over: np.ndarray,
    main: np.ndarray,
    station_cols: np.ndarray,
    cost: sp.csr_matrix,
) -> dict[str, np.ndarray | pd.Categorical[Any]]:
    """Status, station, walk and reason of every community after the capacitated assignment."""
    with_main = (main >= 0) & ~over
    is_existing = sites.existing[station_cols]
    status = table["status"].astype(str).to_numpy(dtype=object).copy()
    reason = table["reason"].astype(object).fillna("").to_numpy(dtype=object).copy()
    covered = table["covered"].to_numpy(bool).copy()
    station_id = table["station_id"].to_numpy(dtype=object).copy()
    station_name = table["station_name"].to_numpy(dtype=object).copy()
    station_kind = table["station_kind"].to_numpy(dtype=object).copy()
    walk = table["walk_min"].to_numpy(float).copy()
    texts = table["reason_text"].to_numpy(dtype=object).copy()

    main_cols = station_cols[main[with_main]]
    target = at[with_main]
    station_id[target] = sites.ids[main_cols]
    station_name[target] = sites.names[main_cols]
    station_kind[target] = np.where(is_existing[main[with_main]], "existing", "new")
    status[target] = np.where(is_existing[main[with_main]], "covered_existing", "covered_new")
    main_cost = np.asarray(cost[np.flatnonzero(with_main), main[with_main]]).ravel()
    walk[target] = main_cost * limit.minutes_per_unit
    covered[at[over]] = False
    status[at[over]] = "over_capacity"
    reason[at[over]] = "over_capacity"
    words = limit.words()
    texts[at[over]] = reason_text("over_capacity", limit=words)

    return {
        "status": pd.Categorical(status, categories=list(STATUSES)),
        "station_id": station_id,
        "station_name": station_name,
        "station_kind": station_kind,
        "walk_min": walk,
        "covered": covered,
        "reason": pd.Categorical(
            pd.Series(reason, dtype=object).replace("", None), categories=list(REASONS)
        ),
        "reason_text": texts,
    }


def staffed(
    result: SitingResult,
    cost: sp.csr_matrix,
    communities: Communities,
    sites: SiteTable,
    limit: WalkLimit,
    *,
    coverable: np.ndarray,
    station_cols: np.ndarray,
    aides: np.ndarray,
    capacity: Capacity,
    deadline: float | None = None,
    assignment: Assignment | None = None,
) -> SitingResult:
    """The result with its coverable communities assigned within the stations' capacities.

    The assignment (:func:`~quarterhour.siting.capacity.assign_within`, unless ``assignment``
    is the one already made) of the ``coverable`` rows to the stations ``station_cols`` with
    ``aides`` each, then :func:`with_capacity`.
    """
    rows = np.flatnonzero(coverable)
    if assignment is None:
        assignment = assign_within(
            cost[rows][:, station_cols],
            communities.weight[rows],
            aides * capacity.residents_per_aide,
            deadline=deadline,
        )
    return with_capacity(
        result,
        cost,
        communities,
        sites,
        limit,
        rows=rows,
        station_cols=station_cols,
        aides=aides,
        capacity=capacity,
        assignment=assignment,
    )


def with_capacity(
    result: SitingResult,
    cost: sp.csr_matrix,
    communities: Communities,
    sites: SiteTable,
    limit: WalkLimit,
    *,
    rows: np.ndarray,
    station_cols: np.ndarray,
    aides: np.ndarray,
    capacity: Capacity,
    assignment: Assignment,
) -> SitingResult:
    """The result's tables and summary with the capacitated assignment and staffing.

    Parameters
    ----------
    result
        The plan or audit built from nearest stations.
    cost, communities, sites, limit
        Its model's walk costs, rows, columns and walk limit.
    rows
        Model rows of the assignment (coverable communities).
    station_cols
        Model columns of the stations, in the assignment's column order.
    aides
        Aides of each station.
    capacity
        The capacity parameters.
    assignment
        The communities' residents assigned within capacity.
    """
    n = len(communities)
    output_row = np.empty(n, np.int64)
    output_row[np.argsort(communities.position, kind="stable")] = np.arange(n)
    table = result.assignments.copy()
    at = output_row[rows]
    demand = communities.weight[rows]
    cost = cost[rows][:, station_cols].tocsr()
    cost.sort_indices()
    main = _main_station(assignment, cost.data)
    served_fully = fully_served(assignment)
    in_reach = np.diff(cost.indptr) > 0  # of a station: else not over capacity but uncovered
    over = (demand > 0) & ~served_fully & in_reach
    station_ids = sites.ids[station_cols]

    columns = _community_columns(
        table, sites, limit, at=at, over=over, main=main, station_cols=station_cols, cost=cost
    )
    shares = np.full(n, "", dtype=object)
    flow = assignment.flow
    for local in np.flatnonzero(np.diff(flow.indptr) > 1):
        part = slice(flow.indptr[local], flow.indptr[local + 1])
        given = flow.data[part] > assignment.tolerance
        if given.sum() > 1:
            shares[at[local]] = "; ".join(
                f"{station_ids[col]} {value:.6g}"
                for col, value in zip(
                    flow.indices[part][given], flow.data[part][given], strict=True
                )
            )
    served = np.zeros(n)
    unserved = np.zeros(n)
    served[at] = np.round(assignment.served, RESIDENT_DECIMALS)
    unserved[at] = np.round(np.where(over, assignment.unserved, 0.0), RESIDENT_DECIMALS)
    table = table.assign(
        **columns,
        served_weight=served,
        unserved_weight=unserved,
        stations=shares,
    )

    stations = _station_staffing(
        result.stations,
        station_ids,
        aides,
        capacity,
        assignment,
        over_ids=columns["station_id"][at[over]],
        over_unserved=assignment.unserved[over],
    )
    params = dict(result.params)
    params["capacity"] = capacity.to_dict()
    params["staffing"] = staffing_totals(stations, table)
    params["staffing_by_area"] = staffing_by_area(stations, table)
    params.update(walk_figures(table))
    params["assignment_method"] = (
        "least weighted walk (min-cost flow)" if assignment.optimal else "greedy by walk time"
    )
    warnings = list(result.warnings)
    if not assignment.optimal:
        warnings.append(
            "the time limit came before the capacitated assignment was solved: "
            "communities were assigned greedily, shortest walks first (served residents may be "
            "fewer than the stations could serve; give more time for the exact assignment)"
        )
    return replace(result, assignments=table, stations=stations, params=params, warnings=warnings)


def _station_staffing(
    stations: pd.DataFrame,
    station_ids: np.ndarray,
    aides: np.ndarray,
    capacity: Capacity,
    assignment: Assignment,
    *,
    over_ids: np.ndarray,
    over_unserved: np.ndarray,
) -> pd.DataFrame:
    """The station table with its staffing columns (by station id)."""
    by_id = pd.Index(station_ids)
    where = by_id.get_indexer(stations["station_id"].to_numpy())
    served = np.round(assignment.station_served[where], RESIDENT_DECIMALS)
    flow = assignment.flow.tocsc()
    served_count = np.diff(flow.indptr)[where]
    unserved_by_id = pd.Series(over_unserved).groupby(pd.Series(over_ids, dtype=object)).sum()
    extra = unserved_by_id.reindex(stations["station_id"].to_numpy()).fillna(0.0).to_numpy()
    demand_weight = served + extra
    aides_here = aides[where]
    needed = capacity.needed(demand_weight)
    return stations.assign(
        served_communities=served_count.astype(np.int64),
        served_weight=served,
        aides=aides_here.astype(np.int64),
        capacity=aides_here * float(capacity.residents_per_aide),
        demand_weight=demand_weight,
        aides_needed=needed,
        shortfall=np.maximum(needed - aides_here, 0).astype(np.int64),
    )


def staffing_totals(stations: pd.DataFrame, table: pd.DataFrame) -> dict[str, object]:
    """The whole area's staffing: aides, needed, shortfall, residents served and not."""
    status = table["status"].astype(str).to_numpy()
    return {
        key: json_scalar(value)
        for key, value in {
            "stations": len(stations),
            "aides": int(stations["aides"].sum()),
            "aides_new": int(stations.loc[stations["kind"] == "new", "aides"].sum()),
            "aides_needed": int(stations["aides_needed"].sum()),
            "shortfall": int(stations["shortfall"].sum()),
            "stations_short": int((stations["shortfall"] > 0).sum()),
            "served_weight": float(stations["served_weight"].sum()),
            "unserved_weight": float(table["unserved_weight"].sum()),
            "over_capacity": int((status == "over_capacity").sum()),
            "split_communities": int((table["stations"] != "").sum()),
        }.items()
    }


def staffing_by_area(stations: pd.DataFrame, table: pd.DataFrame) -> list[dict[str, object]]:
    """Staffing by town/street (else district) of the stations, with over-capacity communities.

    Every area of a station or a community, in order of name; the sums by ``np.bincount``.
    """
    kind = "town" if (table["town"].astype(str) != "").any() else "district"
    station_area = stations[kind].astype(str).to_numpy()
    community_area = table[kind].astype(str).to_numpy()
    areas, where = np.unique(np.concatenate([station_area, community_area]), return_inverse=True)
    at_station, at_community = where[: station_area.size], where[station_area.size :]

    def total(at: np.ndarray, values: object) -> np.ndarray:
        weights = np.asarray(values, float)
        summed: np.ndarray = np.bincount(at, weights=weights, minlength=areas.size)
        return summed.astype(float)  # float also when nothing is summed

    over = (table["status"].astype(str) == "over_capacity").to_numpy()
    columns: dict[str, np.ndarray] = {
        "stations": np.bincount(at_station, minlength=areas.size),
        **{
            name: total(at_station, stations[name]).round().astype(np.int64)
            for name in ("aides", "aides_needed", "shortfall")
        },
        "served_weight": total(at_station, stations["served_weight"]),
        "demand_weight": total(at_station, stations["demand_weight"]),
        "over_capacity": np.bincount(at_community[over], minlength=areas.size),
        "unserved_weight": total(at_community, table["unserved_weight"]),
    }
    return [
        {"kind": kind, "area": str(area)}
        | {name: json_scalar(values[k]) for name, values in columns.items()}
        for k, area in enumerate(areas)
    ]


STAFFING_HEADERS: dict[str, str] = {
    "station_id": "站点编号 station_id",
    "name": "名称 name",
    "kind": "类型 kind",
    "district": "区 district",
    "town": "街镇 town",
    "aides": "援助员 aides",
    "capacity": "可服务人数 capacity",
    "served_communities": "服务社区 served",
    "served_weight": "服务人口 served weight",
    "demand_weight": "需求人口 demand",
    "aides_needed": "所需援助员 aides needed",
    "shortfall": "缺口 shortfall",
}
"""The staffing sheet's columns: Chinese header with the English beside it."""


def staffing_sheets(stations: pd.DataFrame, summary: dict[str, Any]) -> dict[str, pd.DataFrame]:
    """The workbook sheets of a capacitated plan (none without a capacity).

    Parameters
    ----------
    stations
        The plan's stations, with their staffing columns.
    summary
        The plan's summary (its ``staffing_by_area``).
    """
    if "aides" not in stations:
        return {}
    sheet = stations.loc[:, list(STAFFING_HEADERS)].rename(columns=STAFFING_HEADERS)
    by_area = pd.DataFrame(summary.get("staffing_by_area") or [])
    headers = {
        "kind": "类型 kind",
        "area": "区域 area",
        "stations": "站点 stations",
        "aides": "援助员 aides",
        "aides_needed": "所需援助员 aides needed",
        "shortfall": "缺口 shortfall",
        "served_weight": "服务人口 served weight",
        "demand_weight": "需求人口 demand",
        "over_capacity": "超出容量社区 over capacity",
        "unserved_weight": "未服务人口 unserved weight",
    }
    return {
        "人员配置 Staffing": sheet,
        "人员配置按区域 Staffing by area": by_area.rename(columns=headers),
    }
