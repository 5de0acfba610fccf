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

    from quarterhour.geo.atomic import check_output_file, write_bytes
    from quarterhour.geo.crs import check_crs_name, convert
    from quarterhour.routing.isochrone import isochrone, to_geojson

    check_output_file(args.output)
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
    """Write the walk times between two point files as CSV (from_id,to_id,walk_min).

    The matrix is computed and written in chunks of sources, so memory stays bounded whatever
    the size; a matrix expected to hold more than ``--max-pairs`` pairs is refused before the work.
    """
    import numpy as np
    import pandas as pd

    from quarterhour.geo.atomic import atomic_path, check_output_file
    from quarterhour.geo.points import read_points
    from quarterhour.routing.snapping import snap_points
    from quarterhour.routing.walktimes import estimate_pairs, walk_time_chunks

    check_output_file(args.output)
    minutes, meters = limit_from_args(args)
    sources = read_points(args.from_file, crs=args.crs, role="origin")
    targets = read_points(args.to_file, crs=args.crs, role="destination")
    network = network_from_args(args)
    src_snap = snap_points(network, sources.lon, sources.lat)
    dst_snap = snap_points(network, targets.lon, targets.lat)
    limit = {"minutes": minutes, "meters": meters, "speed_kmh": args.speed_kmh}
    estimate = estimate_pairs(network, src_snap, dst_snap, **limit)
    if estimate.pairs > args.max_pairs:
        gigabytes = estimate.pairs * 32 / 1e9
        msg = (
            f"{len(sources):,} x {len(targets):,} points give about {estimate.pairs:,} pairs within "
            f"the limit (about {gigabytes:,.1f} GB of CSV), over --max-pairs {args.max_pairs:,}: "
            "lower --minutes or --meters, split the points into smaller files, or raise --max-pairs"
        )
        raise InputError(msg)
    column = "walk_min" if meters is None else "walk_m"
    n_pairs = 0
    times = None
    with atomic_path(args.output) as temporary, temporary.open("w", encoding="utf-8") as out:
        out.write(f"from_id,to_id,{column}\n")
        chunks = walk_time_chunks(
            network, src_snap, dst_snap, per_source=estimate.per_source, quiet=args.quiet, **limit
        )
        for first, times in chunks:
            pairs = times.matrix.tocoo()
            pd.DataFrame(
                {
                    "from_id": sources.ids[first + pairs.row],
                    "to_id": targets.ids[pairs.col],
                    column: np.round(pairs.data, 4),
                }
            ).to_csv(out, index=False, header=False)
            n_pairs += pairs.nnz
    write_metadata(
        args.output,
        network,
        metric="time" if meters is None else "distance",
        limit=times.limit if times is not None else (meters or minutes),
        unit="min" if meters is None else "m",
        speed_kmh=times.speed_kmh if times is not None else args.speed_kmh,
        pairs=n_pairs,
        sources=str(args.from_file),
        targets=str(args.to_file),
        crs=sources.crs,
        unreachable_from=sources.ids[~src_snap.reachable].tolist(),
        unreachable_to=targets.ids[~dst_snap.reachable].tolist(),
    )
    for role, points, snap in (("from", sources, src_snap), ("to", targets, dst_snap)):
        if snap.n_unreachable:
            log.warning(
                "%s of %s %s points lie more than %g m from any walkable street and have no walk "
                "times (%s)",
                f"{snap.n_unreachable:,}",
                f"{len(points):,}",
                role,
                snap.max_m,
                ", ".join(points.ids[~snap.reachable][:5])
                + (" ..." if snap.n_unreachable > 5 else ""),
            )
    log.info("wrote %s pairs to %s", f"{n_pairs:,}", args.output)


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

    from quarterhour.geo.atomic import check_output_file, write_bytes
    from quarterhour.geo.points import read_points
    from quarterhour.routing.route import nearest_routes, shortest_route, wgs84_point

    check_output_file(args.output)
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
    walk.add_argument(
        "--max-pairs",
        type=int,
        default=50_000_000,
        metavar="N",
        help="refuse (before the work) a matrix expected to hold more pairs than this",
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
