"""The bundled default instance: central Shanghai streets and the real compounds inside them."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from quarterhour import settings
from quarterhour.geo.errors import InputError
from quarterhour.geo.points import PointSet, read_points
from quarterhour.routing.snapping import snap_points

if TYPE_CHECKING:
    from quarterhour.routing.graph import WalkNetwork

log = logging.getLogger("quarterhour")


@dataclass(frozen=True)
class AreaSelection:
    """The communities of a list that lie in a network's area, and how many did not.

    Attributes
    ----------
    points
        The communities inside the area.
    counts
        ``read`` (rows of the list), ``in_area``, ``outside_box`` (outside the network's
        bounding box) and ``off_streets`` (inside it, farther than ``snap_max_m`` metres from
        every street), with the ``snap_max_m`` they were counted at, for ``summary.json``'s
        ``inputs`` and the report.
    """

    points: PointSet
    counts: dict[str, int]


def communities_in_network_area(network: WalkNetwork, communities: PointSet) -> AreaSelection:
    """Select the communities inside the network's area.

    The area of a clipped extract is its bounding box, less the parts farther than the
    snapping limit from any of its streets (land the extract has no streets for). Communities
    there lie outside the study area; they are not uncoverable communities of it.

    Parameters
    ----------
    network
        The walking network of the extract.
    communities
        All candidate communities (e.g. the city's 8,995 compounds).
    """
    lon, lat = network.node_lonlat
    in_box = (
        (communities.lon >= lon.min())
        & (communities.lon <= lon.max())
        & (communities.lat >= lat.min())
        & (communities.lat <= lat.max())
    )
    near_street = snap_points(network, communities.lon, communities.lat).reachable
    inside = in_box & near_street
    counts = {
        "read": len(communities),
        "in_area": int(inside.sum()),
        "outside_box": int((~in_box).sum()),
        "off_streets": int((in_box & ~near_street).sum()),
        "snap_max_m": int(settings.snap_max_m),
    }
    log.info(
        "%s of %s communities lie in the network's area (%s in its bounding box, of which %s are "
        "more than %g m from any street: outside the extract's streets, left out)",
        f"{counts['in_area']:,}",
        f"{counts['read']:,}",
        f"{int(in_box.sum()):,}",
        f"{counts['off_streets']:,}",
        settings.snap_max_m,
    )
    return AreaSelection(communities.subset(np.flatnonzero(inside)), counts)


def bundled_selection(network: WalkNetwork) -> AreaSelection:
    """The bundled compounds inside the network's area (see :func:`communities_in_network_area`).

    Their AOI outlines (the ``shape`` column) are left out of the outputs: a few kilobytes of
    coordinates per compound that no planner reads in a table.
    """
    compounds = read_points(
        settings.default_communities_path(),
        crs=settings.default_communities_crs,
        role="communities",
    )
    compounds = replace(compounds, table=compounds.table.drop(columns=["shape"], errors="ignore"))
    inside = communities_in_network_area(network, compounds)
    if len(inside.points) == 0:
        msg = (
            f"the bundled compounds are in Shanghai and none lies in the area of {network.source}: "
            "give your communities with --communities"
        )
        raise InputError(msg)
    return inside


def default_communities(network: WalkNetwork) -> PointSet:
    """The bundled compounds inside the network's area (see :func:`bundled_selection`)."""
    return bundled_selection(network).points
