"""Shanghai's districts: names from codes, and the district a point lies in (bundled outlines).

A planner's list names its district or town in a column; for Shanghai points without one, the
district comes from the bundled outlines of the 16 districts (Aliyun DataV, GCJ-02, converted
to WGS84 here) by point in polygon.
"""

from __future__ import annotations

import json
from functools import cache

import numpy as np
import shapely

from quarterhour import settings
from quarterhour.geo.crs import convert

DISTRICTS_FILE = "shanghai_districts_datav_gcj02.json"
"""The bundled outlines of Shanghai's districts (GCJ-02)."""

SHANGHAI_DISTRICTS: dict[str, tuple[str, str]] = {
    "310101": ("黄浦区", "Huangpu"),
    "310104": ("徐汇区", "Xuhui"),
    "310105": ("长宁区", "Changning"),
    "310106": ("静安区", "Jing'an"),
    "310107": ("普陀区", "Putuo"),
    "310109": ("虹口区", "Hongkou"),
    "310110": ("杨浦区", "Yangpu"),
    "310112": ("闵行区", "Minhang"),
    "310113": ("宝山区", "Baoshan"),
    "310114": ("嘉定区", "Jiading"),
    "310115": ("浦东新区", "Pudong New Area"),
    "310116": ("金山区", "Jinshan"),
    "310117": ("松江区", "Songjiang"),
    "310118": ("青浦区", "Qingpu"),
    "310120": ("奉贤区", "Fengxian"),
    "310151": ("崇明区", "Chongming"),
}
"""Shanghai's district codes (GB/T 2260 adcode, as in AMap data): Chinese and English names."""

ENGLISH_NAMES: dict[str, str] = dict(SHANGHAI_DISTRICTS.values())
"""The English name of each Shanghai district, by its Chinese name."""


def district_of_code(code: object) -> str:
    """The Chinese name of a Shanghai district from its code (``310101`` -> 黄浦区), else the text.

    Parameters
    ----------
    code
        An adcode (text or number), or already a name.
    """
    text = str(code).strip()
    key = text.split(".")[0]
    names = SHANGHAI_DISTRICTS.get(key)
    return names[0] if names else text


@cache
def _outlines() -> tuple[np.ndarray, np.ndarray]:
    path = settings.data_folder / DISTRICTS_FILE
    features = json.loads(path.read_text(encoding="utf-8"))
    names, shapes = [], []
    for feature in features:
        outline = shapely.geometry.shape(feature["geometry"])
        outline = shapely.transform(
            outline,
            lambda xy: np.column_stack(convert(xy[:, 0], xy[:, 1], src="gcj02", dst="wgs84")),
        )
        names.append(str(feature["properties"]["name"]))
        shapes.append(shapely.make_valid(outline))
    geometries = np.asarray(shapes, dtype=object)
    shapely.prepare(geometries)
    return np.asarray(names, dtype=object), geometries


def district_outlines() -> tuple[np.ndarray, np.ndarray]:
    """The bundled outlines of Shanghai's districts: Chinese names and WGS84 polygons."""
    return _outlines()


def district_at(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """The Shanghai district each WGS84 point lies in (Chinese name), ``""`` outside Shanghai.

    Parameters
    ----------
    lon, lat
        WGS84 degrees.
    """
    names, outlines = _outlines()
    points = np.asarray(shapely.points(np.asarray(lon, float), np.asarray(lat, float)))
    found = np.full(len(points), "", dtype=object)
    tree = shapely.STRtree(outlines)
    point_index, outline_index = tree.query(points, predicate="within")
    found[point_index] = names[outline_index]
    return found
