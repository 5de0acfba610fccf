"""Interactive folium maps of coverage and plans, for the planners' notebooks.

Folium writes HTML only: nothing is fetched while a map is built. The base map is
OpenStreetMap (WGS84), so every layer is drawn in WGS84; AMap (GCJ-02) users should convert
coordinates they copy from these maps with :func:`geo.crs.convert`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from quarterhour import settings
from quarterhour.geo.errors import InputError, import_extra

if TYPE_CHECKING:
    from collections.abc import Sequence

    import pandas as pd

    from quarterhour.geo.points import PointSet
    from quarterhour.routing.graph import WalkNetwork
    from quarterhour.siting.model import CoverageModel

if TYPE_CHECKING:
    import folium
else:
    folium = import_extra("folium", "notebooks")

COVERED = "#31a354"
UNCOVERED = "#de2d26"
EXISTING = "#252525"
NEW = "#fd8d3c"


def base_map(network: WalkNetwork, *, zoom_start: int = 13) -> folium.Map:
    """An OpenStreetMap base map centred on the network, with the ODbL attribution."""
    lon, lat = network.node_lonlat
    return folium.Map(
        location=[float(np.median(lat)), float(np.median(lon))],
        zoom_start=zoom_start,
        tiles="OpenStreetMap",
        attr=settings.attribution,
        control_scale=True,
    )


def add_communities(
    folium_map: folium.Map,
    communities: PointSet,
    covered: np.ndarray,
    *,
    walk_min: Sequence[float] | np.ndarray | None = None,
) -> None:
    """Communities as small circles, green when covered and red when not, with a popup each.

    Parameters
    ----------
    folium_map
        The map to draw on.
    communities
        The communities (WGS84).
    covered
        Which are covered (same order).
    walk_min
        Walk minutes to the nearest station, shown in the popup.
    """
    layers = {
        True: folium.FeatureGroup(name="covered communities"),
        False: folium.FeatureGroup(name="uncovered communities"),
    }
    walks = np.full(len(communities), np.nan) if walk_min is None else np.asarray(walk_min, float)
    for name, lon, lat, is_covered, walk in zip(
        communities.names, communities.lon, communities.lat, covered, walks, strict=True
    ):
        label = f"{name}" + (f" · {walk:.1f} min" if np.isfinite(walk) else "")
        folium.CircleMarker(
            [float(lat), float(lon)],
            radius=2.5 if is_covered else 4,
            color=COVERED if is_covered else UNCOVERED,
            fill=True,
            fill_opacity=0.8,
            weight=1,
            tooltip=label,
        ).add_to(layers[bool(is_covered)])
    for layer in layers.values():
        layer.add_to(folium_map)


def add_stations(folium_map: folium.Map, stations: pd.DataFrame, *, name: str = "stations") -> None:
    """Stations (``station_id, name, kind, rank, lon, lat``, WGS84): black existing, orange new."""
    layer = folium.FeatureGroup(name=name)
    for row in stations.itertuples(index=False):
        is_new = getattr(row, "kind", "new") == "new"
        rank = getattr(row, "rank", 0)
        folium.RegularPolygonMarker(
            [float(row.lat), float(row.lon)],  # type: ignore[arg-type]  # pandas-stubs: a cell is any scalar
            number_of_sides=3 if is_new else 4,
            radius=7,
            color="#7f2704" if is_new else EXISTING,
            fill_color=NEW if is_new else EXISTING,
            fill_opacity=0.9,
            weight=1,
            tooltip=f"#{rank} {row.name}" if is_new else f"{row.name}",
        ).add_to(layer)
    layer.add_to(folium_map)


def add_catchments(
    folium_map: folium.Map,
    network: WalkNetwork,
    lonlat: np.ndarray,
    *,
    minutes: float | None = None,
    speed_kmh: float | None = None,
    name: str = "walking areas",
    colour: str = "#3182bd",
) -> None:
    """The walking areas (isochrones) of the given WGS84 points, one GeoJSON layer.

    Parameters
    ----------
    folium_map
        The map to draw on.
    network
        The walking network.
    lonlat
        (n, 2) WGS84 degrees of the stations.
    minutes, speed_kmh
        Walk limit and speed (defaults from :mod:`quarterhour.settings`).
    name, colour
        Layer name and outline colour.
    """
    from quarterhour.routing.isochrone import isochrone, to_geojson

    features = []
    for lon, lat in np.asarray(lonlat, float):
        limit = settings.walk_limit_minutes if minutes is None else minutes
        result = isochrone(network, float(lon), float(lat), minutes=[limit], speed_kmh=speed_kmh)
        features.extend(to_geojson(result, network, crs="wgs84", generalize_m=10.0)["features"])
    style = {"color": colour, "weight": 1, "fillColor": colour, "fillOpacity": 0.15}
    folium.GeoJson(
        {"type": "FeatureCollection", "features": features},
        name=name,
        style_function=lambda _feature: style,
    ).add_to(folium_map)


def finish(folium_map: folium.Map) -> folium.Map:
    """Add the layer switch and return the map (display it, or ``.save("map.html")``)."""
    folium.LayerControl(collapsed=False).add_to(folium_map)
    return folium_map


def explore(
    plan: CoverageModel,
    *,
    today: bool = False,
    catchments: bool = True,
    zoom_start: int = 13,
) -> folium.Map:
    """An interactive map of a plan, or of today's coverage, for a notebook.

    Parameters
    ----------
    plan
        A model built with ``CoverageModel.from_points``: solved, its plan is drawn (new stations
        with their walking areas); not solved, or with ``today``, its audit (who the existing
        stations cover today).
    today
        Draw today's coverage by the existing stations even if the model is solved.
    catchments
        Draw the walking areas of the stations drawn (the new ones in a plan).
    zoom_start
        Initial zoom level.

    Returns
    -------
    folium.Map
        Display it in a notebook, or ``.save("map.html")``.
    """
    communities = plan.points.get("communities")
    if plan.network is None or communities is None:
        msg = "explore needs a model built from points (CoverageModel.from_points)"
        raise InputError(msg, param="plan")
    network = plan.network
    show_audit = today or plan.result is None
    if show_audit:
        audit = plan.audit()
        covered_by_id = audit.communities.set_index("community_id")["covered"]
        walk_by_id = audit.communities.set_index("community_id")["walk_min"]
        stations = audit.stations.assign(kind="existing", rank=0)
        drawn = stations
    else:
        table = plan.assignments.set_index("community_id")
        covered_by_id, walk_by_id = table["covered"], table["walk_min"]
        stations = plan.stations
        drawn = plan.new_stations
    ids = communities.ids.astype(str)
    folium_map = base_map(network, zoom_start=zoom_start)
    if catchments and len(drawn):
        limit = plan.limit
        add_catchments(
            folium_map,
            network,
            drawn[["lon", "lat"]].to_numpy(float),
            minutes=limit.minutes or limit.value / (limit.speed_kmh * 1000.0 / 60.0),
            speed_kmh=limit.speed_kmh,
            name=f"{limit.words()} walk",
        )
    add_communities(
        folium_map,
        communities,
        covered_by_id.reindex(ids).fillna(value=False).to_numpy(bool),
        walk_min=walk_by_id.reindex(ids).to_numpy(float),
    )
    add_stations(folium_map, stations, name="stations")
    return finish(folium_map)
