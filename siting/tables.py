"""The tables of a siting model: its walk limit, its rows (communities) and columns (sites)."""

from __future__ import annotations

from dataclasses import Field, dataclass, fields, replace
from typing import Any, ClassVar, Self

import numpy as np

from quarterhour.routing.walktimes import check_limit, check_speed
from quarterhour.siting.reasons import limit_words

SITE_STATUSES: tuple[str, ...] = ("active", "off_network", "outside_boundary", "no_coordinates")
"""Where a station site stands: on the network inside the area, or not (it then covers nothing)."""


@dataclass(frozen=True)
class WalkLimit:
    """A walk limit: minutes at a speed, or metres.

    Attributes
    ----------
    value
        The limit, in minutes (``metric`` time) or metres (``metric`` distance).
    metric
        ``"time"`` or ``"distance"``.
    speed_kmh
        Walking speed (it also turns distances into minutes).
    """

    value: float
    metric: str
    speed_kmh: float

    @classmethod
    def checked(
        cls,
        *,
        minutes: float | None = None,
        meters: float | None = None,
        speed_kmh: float | None = None,
    ) -> WalkLimit:
        """Validate a limit; defaults come from :mod:`quarterhour.settings` at call time."""
        value, metric = check_limit(minutes=minutes, meters=meters)
        return cls(value, metric, check_speed(speed_kmh))

    @property
    def minutes(self) -> float | None:
        """The limit in minutes, or None in distance mode."""
        return self.value if self.metric == "time" else None

    @property
    def meters(self) -> float | None:
        """The limit in metres, or None in time mode."""
        return self.value if self.metric == "distance" else None

    @property
    def metres_walked(self) -> float:
        """The farthest the limit lets one walk, in metres."""
        if self.metric == "distance":
            return self.value
        return self.value * self.speed_kmh * 1000.0 / 60.0

    @property
    def unit(self) -> str:
        """``"min"`` or ``"m"``: the unit of ``value``."""
        return "min" if self.metric == "time" else "m"

    @property
    def minutes_per_unit(self) -> float:
        """Minutes walked per unit of the cost matrix."""
        return 1.0 if self.metric == "time" else 60.0 / (self.speed_kmh * 1000.0)

    def scaled(self, factor: float) -> WalkLimit:
        """The same limit times ``factor`` (e.g. twice the limit, to name a nearest station)."""
        return replace(self, value=self.value * factor)

    def words(self, lang: str = "en") -> str:
        """The limit in words (``15 min``, ``1,000 m``; Chinese with ``lang="zh"``)."""
        return limit_words(self.value, self.metric, lang=lang)


class _Table:
    """Parallel arrays, one entry per row, that can be reordered together."""

    __dataclass_fields__: ClassVar[dict[str, Field[Any]]]  # every subclass is a dataclass

    def take(self, order: np.ndarray) -> Self:
        """The rows in ``order`` (positions)."""
        return replace(
            self, **{item.name: getattr(self, item.name)[order] for item in fields(self)}
        )

    def __len__(self) -> int:
        return len(getattr(self, fields(self)[0].name))


def _texts(n: int) -> np.ndarray:
    return np.full(n, "", dtype=object)


@dataclass(frozen=True)
class Communities(_Table):
    """The rows of a siting model.

    Attributes
    ----------
    ids, names
        Strings (object dtype).
    weight
        Residents (or other demand) of each community.
    access_m
        Metres to the walking network (NaN where unknown).
    nearest_site_m
        Straight-line metres to the nearest site (NaN where unknown, inf where none).
    position
        Where each community stands in the input (outputs keep the input order).
    in_area
        Whether it lies in the planning area (outside the boundary: counted, not planned).
    district, town
        Its district and town or street (``""`` where unknown), for tables by area.
    """

    ids: np.ndarray
    names: np.ndarray
    weight: np.ndarray
    access_m: np.ndarray
    nearest_site_m: np.ndarray
    position: np.ndarray
    in_area: np.ndarray
    district: np.ndarray
    town: np.ndarray

    @classmethod
    def plain(
        cls,
        ids: np.ndarray,
        names: np.ndarray,
        weight: np.ndarray,
        *,
        access_m: np.ndarray | None = None,
        nearest_site_m: np.ndarray | None = None,
    ) -> Communities:
        """Communities known by id, name and weight only, all in the area, in input order."""
        n = len(ids)
        return cls(
            ids=ids,
            names=names,
            weight=weight,
            access_m=np.full(n, np.nan) if access_m is None else np.asarray(access_m, float),
            nearest_site_m=(
                np.full(n, np.nan) if nearest_site_m is None else np.asarray(nearest_site_m, float)
            ),
            position=np.arange(n),
            in_area=np.ones(n, bool),
            district=_texts(n),
            town=_texts(n),
        )


@dataclass(frozen=True)
class SiteTable(_Table):
    """The columns of a siting model: existing stations and candidate sites.

    Attributes
    ----------
    ids, names
        Strings (object dtype); existing and candidate ids share one namespace.
    existing
        Whether each site is an existing station (kept).
    lon, lat
        WGS84 degrees (NaN where unknown).
    status
        A code of ``SITE_STATUSES``: a site off the network or outside the area covers nothing.
    input_lon, input_lat
        The coordinates as the site's file gave them (text; ``""`` where unknown).
    input_crs
        The coordinate system of ``input_lon``/``input_lat``.
    address, district, town
        Where the site is, as its file (or the community it is) says (``""`` where unknown).
    position
        Where each site stands in its input.
    """

    ids: np.ndarray
    names: np.ndarray
    existing: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    status: np.ndarray
    input_lon: np.ndarray
    input_lat: np.ndarray
    input_crs: np.ndarray
    address: np.ndarray
    district: np.ndarray
    town: np.ndarray
    position: np.ndarray

    @classmethod
    def plain(
        cls,
        ids: np.ndarray,
        names: np.ndarray,
        existing: np.ndarray,
        *,
        lon: np.ndarray | None = None,
        lat: np.ndarray | None = None,
    ) -> SiteTable:
        """Sites known by id, name and kind only (coordinates if given), all active."""
        n = len(ids)
        return cls(
            ids=ids,
            names=names,
            existing=existing,
            lon=np.full(n, np.nan) if lon is None else np.asarray(lon, float),
            lat=np.full(n, np.nan) if lat is None else np.asarray(lat, float),
            status=np.full(n, "active", dtype=object),
            input_lon=_texts(n),
            input_lat=_texts(n),
            input_crs=_texts(n),
            address=_texts(n),
            district=_texts(n),
            town=_texts(n),
            position=np.arange(n),
        )

    @classmethod
    def concat(cls, parts: list[SiteTable]) -> SiteTable:
        """The sites of several tables, one after the other."""
        return cls(
            **{
                item.name: np.concatenate([getattr(part, item.name) for part in parts])
                for item in fields(cls)
            }
        )
