"""``quarterhour network``, ``isochrone``, ``walktimes`` and ``route``: the routing commands."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from quarterhour import settings
from quarterhour.api.cli.options import (
    add_command,
    add_limit_options,
    add_network_options,
    limit_from_args,
    network_from_args,
    positive_float,
    stated_crs,
    write_metadata,
)
from quarterhour.geo.crs import CRS_NAMES
from quarterhour.geo.errors import InputError, QuarterhourError

if TYPE_CHECKING:
    import argparse

log = logging.getLogger("quarterhour")


def cmd_network(args: argparse.Namespace) -> None:
    """Build (and cache) the walking network and print its size."""
    network = network_from_args(args)
    print(network.describe())


def cmd_isochrone(args: argparse.Namespace) -> None:
    """Write the isochrone polygons of one point as GeoJSON."""
    import orjson

    from quarterhour.geo.atomic import write_bytes
    from quarterhour.geo.crs import check_crs_name, convert
    from quarterhour.routing.isochrone import isochrone, to_geojson

    minutes, meters = limit_from_args(args)
    point_crs = stated_crs(args.crs, args.lon, args.lat)
    network = network_from_args(args)
    lon, lat = convert(args.lon, args.lat, src=check_crs_name(point_crs), dst="wgs84")
    result = isochrone(
        network,
        float(lon),
        float(lat),
        minutes=minutes,
        meters=meters,
        speed_kmh=args.speed_kmh,
        buffer_m=args.buffer_m,
    )
    collection = to_geojson(
        result,
        network,
        crs=args.out_crs or point_crs,
        denoise=args.denoise,
        generalize_m=args.generalize,
    )
    write_bytes(args.output, orjson.dumps(collection))
    log.info("wrote %s contours to %s", len(collection["features"]), args.output)


def cmd_walktimes(args: argparse.Namespace) -> None:
    """Write the walk times between two point files as CSV (from_id,to_id,walk_min)."""
    import numpy as np
    import pandas as pd

    from quarterhour.geo.atomic import atomic_path
    from quarterhour.geo.points import read_points
    from quarterhour.routing.walktimes import walk_time_matrix

    minutes, meters = limit_from_args(args)
    sources = read_points(args.from_file, crs=args.crs, role="origin")
    targets = read_points(args.to_file, crs=args.crs, role="destination")
    network = network_from_args(args)
    times = walk_time_matrix(
        network,
        sources.lon,
        sources.lat,
        targets.lon,
        targets.lat,
        minutes=minutes,
        meters=meters,
        speed_kmh=args.speed_kmh,
        quiet=args.quiet,
    )
    matrix = times.matrix.tocoo()
    column = "walk_min" if times.metric == "time" else "walk_m"
    table = pd.DataFrame(
        {
            "from_id": sources.ids[matrix.row],
            "to_id": targets.ids[matrix.col],
            column: np.round(matrix.data, 4),
        }
    )
    with atomic_path(args.output) as temporary:
        table.to_csv(temporary, index=False)
    write_metadata(
        args.output,
        network,
        metric=times.metric,
        limit=times.limit,
        unit=times.unit,
        speed_kmh=times.speed_kmh,
        sources=str(args.from_file),
        targets=str(args.to_file),
        crs=sources.crs,
        unreachable_from=sources.ids[~times.src_snap.reachable].tolist(),
        unreachable_to=targets.ids[~times.dst_snap.reachable].tolist(),
    )
    for role, points, snap in (("from", sources, times.src_snap), ("to", targets, times.dst_snap)):
        if snap.n_unreachable:
            log.warning(
                "%s of %s %s points lie more than %g m from any walkable street and have no walk times (%s)",
                f"{snap.n_unreachable:,}",
                f"{len(points):,}",
                role,
                snap.max_m,
                ", ".join(points.ids[~snap.reachable][:5])
                + (" ..." if snap.n_unreachable > 5 else ""),
            )
    log.info(
        "wrote %s pairs within %g %s to %s", f"{len(table):,}", times.limit, times.unit, args.output
    )


ROUTE_POINT_OPTIONS = {
    "from_point": "--from-lon/--from-lat",
    "to_point": "--to-lon/--to-lat",
    "point": "--from-lon/--from-lat",
}
"""The options a route's library errors about a point name."""


def _route_error(error: QuarterhourError) -> QuarterhourError:
    """The library's error with the point it is about named as the command's options."""
    option = ROUTE_POINT_OPTIONS.get(error.param or "")
    if option is None:
        return error
    return type(error)(f"{option} {error.message}")


def cmd_route(args: argparse.Namespace) -> None:
    """Write the walking route between two points (or to the nearest stations) as GeoJSON."""
    import orjson

    from quarterhour.geo.atomic import write_bytes
    from quarterhour.geo.points import read_points
    from quarterhour.routing.route import nearest_routes, shortest_route, wgs84_point

    if (args.to_lon is None) != (args.to_lat is None):
        msg = "give both --to-lon and --to-lat"
        raise InputError(msg)
    if (args.to_lon is None) == (args.stations is None):
        msg = "give an end point (--to-lon, --to-lat) or --stations (the nearest stations)"
        raise InputError(msg)
    crs = stated_crs(args.crs, args.from_lon, args.from_lat)
    out_crs = args.out_crs or crs
    try:
        lon, lat = wgs84_point((args.from_lon, args.from_lat), crs=crs, param="from_point")
        if args.stations is None:
            to_lon, to_lat = wgs84_point((args.to_lon, args.to_lat), crs=crs, param="to_point")
            network = network_from_args(args)
            result = shortest_route(network, lon, lat, to_lon, to_lat, speed_kmh=args.speed_kmh)
            output = result.to_geojson(crs=out_crs)
            output["attribution"] = network.attribution
            summary = f"{result.minutes:.1f} min, {result.meters:,.0f} m"
        else:
            stations = read_points(
                args.stations, crs=args.stations_crs or args.crs, role="stations"
            )
            network = network_from_args(args)
            found = nearest_routes(
                network, lon, lat, stations.lon, stations.lat, k=args.k, speed_kmh=args.speed_kmh
            )
            features = []
            for rank, (t, result) in enumerate(found, start=1):
                feature = result.to_geojson(crs=out_crs)
                feature["properties"] = {
                    "rank": rank,
                    "station_id": str(stations.ids[t]),
                    "name": str(stations.names[t]),
                    **feature["properties"],
                }
                features.append(feature)
            output = {
                "type": "FeatureCollection",
                "features": features,
                "attribution": network.attribution,
            }
            summary = ", ".join(
                f"{stations.ids[t]} {result.minutes:.1f} min" for t, result in found
            )
    except QuarterhourError as error:
        raise _route_error(error) from error
    write_bytes(args.output, orjson.dumps(output))
    log.info("wrote %s to %s", summary, args.output)


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``network``, ``isochrone`` and ``walktimes`` to the command line."""
    network = add_command(
        commands,
        "network",
        cmd_network,
        "Build the walking network of an OSM extract (cached for later commands).",
    )
    add_network_options(network)

    iso = add_command(
        commands,
        "isochrone",
        cmd_isochrone,
        "Draw the 5/10/15-minute walking areas around one point, as GeoJSON.",
    )
    iso.add_argument("--lon", type=float, required=True, help="longitude of the point")
    iso.add_argument("--lat", type=float, required=True, help="latitude of the point")
    iso.add_argument(
        "--crs",
        choices=CRS_NAMES,
        help="coordinates of --lon/--lat: gcj02 (AMap, Tencent), bd09 (Baidu) or wgs84; needed "
        "for a point in China",
    )
    iso.add_argument(
        "--out-crs",
        choices=CRS_NAMES,
        help="coordinates of the output (default: as --crs)",
    )
    iso.add_argument(
        "--buffer-m",
        type=float,
        default=settings.isochrone_buffer_m,
        help="how far off a reached street the area reaches",
    )
    iso.add_argument(
        "--denoise",
        type=float,
        default=0.0,
        help="0-1: drop pieces smaller than this share of the largest",
    )
    iso.add_argument(
        "--generalize",
        type=float,
        default=None,
        metavar="M",
        help="simplify outlines to this many metres",
    )
    iso.add_argument("-o", "--output", type=Path, required=True, help="output .geojson file")
    add_limit_options(iso, many=True)
    add_network_options(iso)

    walk = add_command(
        commands,
        "walktimes",
        cmd_walktimes,
        "Walk times between two point files, within a limit, as CSV.",
    )
    walk.add_argument(
        "--from",
        dest="from_file",
        type=Path,
        required=True,
        metavar="A.csv",
        help="origins (CSV id,name,lon,lat; GeoJSON; GeoPackage)",
    )
    walk.add_argument(
        "--to",
        dest="to_file",
        type=Path,
        required=True,
        metavar="B.csv",
        help="destinations",
    )
    walk.add_argument(
        "--crs",
        choices=CRS_NAMES,
        help="coordinates of both point files (needed for tables of points in China)",
    )
    walk.add_argument(
        "-o",
        "--output",
        type=Path,
        required=True,
        help="output CSV: from_id,to_id,walk_min",
    )
    add_limit_options(walk)
    add_network_options(walk)

    way = add_command(
        commands,
        "route",
        cmd_route,
        "The walking route between two points, or from a point to its nearest stations "
        "(--stations), as GeoJSON.",
    )
    way.add_argument("--from-lon", type=float, required=True, help="longitude of the start")
    way.add_argument("--from-lat", type=float, required=True, help="latitude of the start")
    way.add_argument("--to-lon", type=float, help="longitude of the end")
    way.add_argument("--to-lat", type=float, help="latitude of the end")
    way.add_argument(
        "--stations",
        type=Path,
        metavar="S.csv",
        help="instead of an end: routes to the nearest of these stations (CSV, GeoJSON, GeoPackage)",
    )
    way.add_argument(
        "-k",
        "--k",
        dest="k",
        type=int,
        default=1,
        help="how many nearest stations (with --stations)",
    )
    way.add_argument(
        "--stations-crs",
        choices=CRS_NAMES,
        help="coordinates of --stations (default: as --crs)",
    )
    way.add_argument(
        "--crs",
        choices=CRS_NAMES,
        help="coordinates of the points: gcj02 (AMap, Tencent), bd09 (Baidu) or wgs84; needed "
        "for points in China",
    )
    way.add_argument(
        "--out-crs",
        choices=CRS_NAMES,
        help="coordinates of the output (default: as --crs)",
    )
    way.add_argument(
        "--speed-kmh",
        type=positive_float,
        default=settings.walk_speed_kmh,
        help="walking speed",
    )
    way.add_argument("-o", "--output", type=Path, required=True, help="output .geojson file")
    add_network_options(way)
