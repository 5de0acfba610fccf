"""Why a community is not covered, as codes; the words in every language derive from the code.

Every community of a plan or an audit gets a ``status`` and, when it is not covered, a
``reason`` code (a categorical column); :func:`reason_text` turns a code and the community's
distances into a sentence in English or Chinese, so no output ever matches text to translate it.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

STATUSES: tuple[str, ...] = (
    "covered_existing",
    "covered_new",
    "uncoverable",
    "off_network",
    "outside_boundary",
    "over_budget",
    "over_capacity",
)
"""Where a community stands after a plan.

``covered_existing``, ``covered_new``
    Its nearest station within the limit is an existing or a new one.
``uncoverable``
    On the network, but no station site lies within the limit.
``off_network``
    Farther than the snapping limit (500 m) from every street of the extract.
``outside_boundary``
    Outside the planning area: counted and kept, not planned.
``over_budget``
    A budget plan (maximal cover) could have covered it with more stations.
``over_capacity``
    Within the limit of stations that are all full (with a capacity): its nearest station and
    walk time are given, and the residents left unserved.
"""

REASONS: tuple[str, ...] = (
    "outside_boundary",
    "off_network",
    "no_site",
    "no_site_in_reach",
    "far_from_street",
    "over_budget",
    "no_station",
    "over_capacity",
)
"""Why a community is not covered.

``outside_boundary``
    It lies outside the planning area (``boundary``): counted and kept, not planned.
``off_network``
    It lies farther than the snapping limit from every street of the extract.
``no_site``
    No station site lies within the walk limit, and none can be located (no site at all).
``no_site_in_reach``
    No station site lies within the walk limit.
``far_from_street``
    Even a station on the spot is beyond the limit along streets (a long access leg: the
    network lacks the compound's own paths).
``over_budget``
    A site could cover it, but not within the budget of new stations.
``no_station``
    An audit without stations.
``over_capacity``
    Stations are within the limit, but all are full (their aides x residents per aide).
"""

AT_SPOT_M = 1.0
"""A site this close to a community (straight line) stands on it."""

_TEXT: dict[str, dict[str, str]] = {
    "en": {
        "outside_boundary": "outside the planning area (boundary)",
        "off_network": "off the walking network: {access} m from the nearest walkable street",
        "no_site": "no station site within {limit}",
        "no_site_in_reach": "no station site within {limit}; nearest site {nearest} m away in a "
        "straight line",
        "far_from_street": "too far from a street: even a station on the spot is more than {limit} "
        "away along streets (the network lacks the compound's own paths)",
        "over_budget": "not covered within the budget",
        "no_station": "no existing station was given",
        "over_capacity": "every station within {limit} is full (aides x residents per aide)",
    },
    "zh": {
        "outside_boundary": "不在规划范围内",
        "off_network": "不在步行网络上：距最近可步行道路 {access} 米",
        "no_site": "{limit}内无可选站点",
        "no_site_in_reach": "{limit}内无可选站点；最近站点直线距离 {nearest} 米",
        "far_from_street": "离道路太远：即使就地设站，经道路往返也超过 {limit}（路网缺少小区内部道路）",
        "over_budget": "超出新建站点预算，未覆盖",
        "no_station": "没有提供现有站点",
        "over_capacity": "{limit}内的站点均已满员（援助员人数 x 每名援助员服务人数）",
    },
}

_UNITS: dict[str, dict[str, str]] = {
    "en": {"time": "{value} min", "distance": "{value} m"},
    "zh": {"time": "{value} 分钟", "distance": "{value} 米"},
}


def _whole(value: float) -> str:
    return "–" if not math.isfinite(value) else f"{round(value):,}"


def limit_words(limit: float, metric: str, *, lang: str = "en") -> str:
    """The walk limit in words: ``15 min`` / ``15 分钟``, ``1,000 m`` / ``1,000 米``.

    Parameters
    ----------
    limit
        Minutes (``metric`` time) or metres (``metric`` distance).
    metric
        ``"time"`` or ``"distance"``.
    lang
        ``"en"`` or ``"zh"``.
    """
    value = f"{limit:g}" if metric == "time" else _whole(limit)
    return _UNITS[lang][metric].format(value=value)


def reason_text(
    code: object,
    *,
    access_m: float = math.nan,
    nearest_site_m: float = math.nan,
    limit: str = "",
    lang: str = "en",
) -> str:
    """The sentence of a reason code, with the community's distances.

    Parameters
    ----------
    code
        A code of ``REASONS``; empty or missing gives an empty sentence (a covered community).
    access_m
        Metres from the community to the nearest street.
    nearest_site_m
        Metres, in a straight line, to the nearest station site.
    limit
        The walk limit in words (:func:`limit_words`).
    lang
        ``"en"`` or ``"zh"``.
    """
    if code is None or (isinstance(code, float) and math.isnan(code)) or str(code) == "":
        return ""
    template = _TEXT[lang][str(code)]
    return template.format(
        access=_whole(float(access_m)), nearest=_whole(float(nearest_site_m)), limit=limit
    )


def reason_codes(
    *,
    coverable: np.ndarray,
    covered: np.ndarray,
    access_m: np.ndarray,
    nearest_site_m: np.ndarray,
    snap_max_m: float,
) -> np.ndarray:
    """The reason code of every community (empty where covered).

    Parameters
    ----------
    coverable
        Whether some site lies within the limit of each community.
    covered
        Whether a station covers it.
    access_m
        Metres to the nearest street (NaN where unknown, inf where none was searched).
    nearest_site_m
        Straight-line metres to the nearest site (inf where there is none).
    snap_max_m
        The snapping limit: farther from every street is off the network.
    """
    n = coverable.size
    codes = np.full(n, "", dtype=object)
    uncovered = ~covered
    off_network = uncovered & ~coverable & (np.nan_to_num(access_m, nan=0.0) > snap_max_m)
    no_site = uncovered & ~coverable & ~off_network & ~np.isfinite(nearest_site_m)
    at_spot = np.nan_to_num(nearest_site_m, nan=np.inf) < AT_SPOT_M
    codes[uncovered & coverable] = "over_budget"
    codes[uncovered & ~coverable] = "no_site_in_reach"
    codes[uncovered & ~coverable & at_spot & ~off_network] = "far_from_street"
    codes[no_site] = "no_site"
    codes[off_network] = "off_network"
    return codes


def as_categorical(values: np.ndarray, categories: tuple[str, ...]) -> pd.Categorical[str]:
    """A categorical column of codes (empty strings become missing)."""
    cleaned = pd.Series(values, dtype=object).replace("", None)
    return pd.Categorical(cleaned, categories=list(categories))
