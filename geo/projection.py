"""Local metric projection: the UTM zone of a place, as osmnx projects its graphs."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from pyproj import CRS, Transformer

WGS84 = "EPSG:4326"


def utm_epsg(lon: float, lat: float) -> int:
    """Return the EPSG code of the WGS84 UTM zone that contains a point.

    Parameters
    ----------
    lon, lat
        WGS84 degrees.
    """
    zone = int(np.floor((lon + 180.0) / 6.0)) % 60 + 1
    return (32600 if lat >= 0 else 32700) + zone


@dataclass(frozen=True)
class LocalProjection:
    """A WGS84 <-> metric projection pair for one area.

    Attributes
    ----------
    epsg
        EPSG code of the metric CRS (a UTM zone).
    """

    epsg: int
    _forward: Transformer = field(init=False, repr=False, compare=False)
    _inverse: Transformer = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        crs = CRS.from_epsg(self.epsg)
        object.__setattr__(self, "_forward", Transformer.from_crs(WGS84, crs, always_xy=True))
        object.__setattr__(self, "_inverse", Transformer.from_crs(crs, WGS84, always_xy=True))

    @classmethod
    def for_lonlat(cls, lon: np.ndarray | float, lat: np.ndarray | float) -> LocalProjection:
        """Return the projection of the UTM zone at the centre of some WGS84 points."""
        lon_arr = np.asarray(lon, dtype=float)
        lat_arr = np.asarray(lat, dtype=float)
        centre_lon = 0.5 * (np.nanmin(lon_arr) + np.nanmax(lon_arr))
        centre_lat = 0.5 * (np.nanmin(lat_arr) + np.nanmax(lat_arr))
        return cls(utm_epsg(float(centre_lon), float(centre_lat)))

    @property
    def crs(self) -> CRS:
        """The metric CRS."""
        return CRS.from_epsg(self.epsg)

    def forward(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Project WGS84 degrees to metres."""
        x, y = self._forward.transform(np.asarray(lon, float), np.asarray(lat, float))
        return np.asarray(x, float), np.asarray(y, float)

    def inverse(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Unproject metres to WGS84 degrees."""
        lon, lat = self._inverse.transform(np.asarray(x, float), np.asarray(y, float))
        return np.asarray(lon, float), np.asarray(lat, float)
