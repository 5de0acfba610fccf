"""The report's figures: the overview map and the scenario chart, as PNG images for print.

Figures are drawn with matplotlib's object interface (no pyplot state) in the network's metric
projection (UTM: north is up within a fraction of a degree), with Noto Sans CJK SC for the
Chinese labels.
"""

from __future__ import annotations

import base64
import io
import logging
import math
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely
from matplotlib import font_manager, rc_context
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, PathPatch, Rectangle
from matplotlib.path import Path as MplPath

from quarterhour import settings
from quarterhour.api.report.i18n import area_name, fmt_num, limit_text, texts
from quarterhour.geo.errors import NetworkError, QuarterhourError

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence

    from matplotlib.axes import Axes
    from matplotlib.typing import LineStyleType, RcKeyType
    from shapely.geometry.base import BaseGeometry

    from quarterhour.api.report.inputs import PlanInputs
    from quarterhour.api.report.scenarios import Scenario
    from quarterhour.siting.model import CoverageModel

log = logging.getLogger("quarterhour")

CJK_FAMILY = "Noto Sans CJK SC"
"""The font family of every Chinese label, in the figures and in the PDF."""

CJK_FONT_FILES: tuple[Path, ...] = (
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"),
    Path("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc"),
)
"""Where Debian's ``fonts-noto-cjk`` (and other distributions) put Noto Sans CJK."""

DPI = 200
MAX_RANK_LABELS = 100
"""At most this many new stations are numbered on the map (the first in pick order)."""


def catchment_buffer_m() -> float:
    """How far off the reached streets the drawn walking areas reach: the isochrone API's own.

    Read at call time from ``settings.isochrone_buffer_m``, so the report and ``/isochrone``
    draw one station's area alike.
    """
    return float(settings.isochrone_buffer_m)


"""Resolution of the figures: sharp on A4 print, a few hundred kB each."""

COLOURS = {
    "network": "#bdbdbd",
    "boundary": "#404040",
    "catchment": "#9ecae1",
    "catchment_edge": "#3182bd",
    "covered": "#31a354",
    "uncovered": "#de2d26",
    "outside": "#bdbdbd",
    "existing": "#252525",
    "new": "#fd8d3c",
    "new_edge": "#7f2704",
    "bound": "#737373",
    "district": "#8c6bb1",
    "town": "#6a51a3",
}


class FontMissingError(QuarterhourError):
    """No font with Chinese characters is installed."""


def cjk_font_family() -> str:
    """Register Noto Sans CJK with matplotlib and return its family name.

    Raises
    ------
    FontMissingError
        If no Noto Sans CJK SC font can be found (install the Debian package ``fonts-noto-cjk``).
    """
    for path in CJK_FONT_FILES:
        if path.is_file() and not any(
            entry.fname == str(path) for entry in font_manager.fontManager.ttflist
        ):
            font_manager.fontManager.addfont(str(path))
    try:
        font_manager.findfont(
            font_manager.FontProperties(family=CJK_FAMILY), fallback_to_default=False
        )
    except ValueError:
        msg = (
            f"no Chinese font found ({CJK_FAMILY}): install the package fonts-noto-cjk "
            "(apt-get install fonts-noto-cjk)"
        )
        raise FontMissingError(msg) from None
    return CJK_FAMILY


@contextmanager
def report_style() -> Iterator[None]:
    """Matplotlib settings of the report's figures (CJK font, small print sizes)."""
    family = cjk_font_family()
    style: dict[RcKeyType, Any] = {
        "font.family": [family, "DejaVu Sans"],
        "font.size": 8,
        "axes.unicode_minus": False,
        "axes.titlesize": 9,
        "legend.fontsize": 7.5,
        "savefig.dpi": DPI,
    }
    with rc_context(style):
        yield


def png_data_uri(figure: Figure) -> str:
    """The figure as a ``data:image/png;base64,...`` URI (the report embeds its images)."""
    buffer = io.BytesIO()
    figure.savefig(
        buffer, format="png", dpi=DPI, bbox_inches="tight", pad_inches=0.04, facecolor="white"
    )
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def catchments(data: PlanInputs, stations_lonlat: np.ndarray) -> shapely.Geometry:
    """The union of the walking areas of the given stations, in the network's metres.

    Parameters
    ----------
    data
        The plan and its inputs (walk limit and speed from the summary).
    stations_lonlat
        (n, 2) WGS84 degrees.
    """
    from quarterhour.routing.isochrone import isochrone

    meters = data.summary.get("meters")
    limit: dict[str, Any] = (
        {"meters": [float(meters)]} if meters is not None else {"minutes": [data.minutes]}
    )
    buffer_m = catchment_buffer_m()
    projection = data.network.projection
    polygons = []
    for lon, lat in stations_lonlat:
        try:
            result = isochrone(
                data.network,
                float(lon),
                float(lat),
                speed_kmh=data.speed_kmh,
                buffer_m=buffer_m,
                **limit,
            )
        except NetworkError as error:
            log.warning(
                "no walking area drawn for the station at (%.6f, %.6f): %s", lon, lat, error
            )
            continue
        # the walk starts at the station: its way to the street belongs to its area
        x, y = projection.forward(np.array([lon]), np.array([lat]))
        access = shapely.LineString([(x[0], y[0]), result.snapped_xy]).buffer(buffer_m)
        polygons.append(shapely.union(result.shapely_polygons()[0], access))
    return shapely.union_all(polygons) if polygons else shapely.MultiPolygon()


def area_lines(
    data: PlanInputs, outlines: Iterable[tuple[str, shapely.Geometry]]
) -> tuple[list[BaseGeometry], list[tuple[str, float, float]]]:
    """Named outlines (WGS84) across the map, in metres, and a label point for each.

    Only outlines the map's extent meets are drawn; a label only for one that fills 2 % of it.
    """
    x_min, x_max, y_min, y_max = _extent(data)
    projection = data.network.projection
    view = shapely.box(x_min, y_min, x_max, y_max)
    lines, labels = [], []
    for name, outline in outlines:
        shape = shapely.transform(
            outline, lambda xy: np.column_stack(projection.forward(xy[:, 0], xy[:, 1]))
        )
        if not shapely.intersects(shape, view):
            continue
        lines.append(shapely.intersection(shapely.boundary(shape), view))
        inside = shapely.intersection(shape, view)
        if inside.area > 0.02 * view.area:
            point = inside.point_on_surface()
            labels.append((str(name), float(point.x), float(point.y)))
    return lines, labels


def _draw_areas(axes: Axes, data: PlanInputs, *, lang: str) -> tuple[bool, bool]:
    """Draw and name the district outlines and the towns given; whether there were any."""
    from quarterhour.geo.districts import district_outlines

    drawn = []
    for outlines, colour, width, style, size in (
        (zip(*district_outlines(), strict=True), COLOURS["district"], 0.8, "-", 6.5),
        (data.towns, COLOURS["town"], 0.5, ":", 5.0),
    ):
        lines, labels = area_lines(data, outlines)
        for line in lines:
            for part in getattr(line, "geoms", [line]):
                if isinstance(part, shapely.LineString) and not part.is_empty:
                    xy = np.asarray(part.coords)
                    axes.plot(
                        xy[:, 0], xy[:, 1], color=colour, linewidth=width, linestyle=style, zorder=3
                    )
        for name, x, y in labels:
            axes.text(
                x,
                y,
                area_name(name, lang=lang),
                fontsize=size,
                color=colour,
                ha="center",
                va="center",
                alpha=0.8,
                zorder=3,
            )
        drawn.append(bool(lines))
    return drawn[0], drawn[1]


def _geometry_patch(geometry: shapely.Geometry, **style: object) -> PathPatch:
    """A matplotlib patch of a (Multi)Polygon, holes kept."""
    vertices, codes = [], []
    for polygon in getattr(geometry, "geoms", [geometry]):
        if polygon.is_empty or polygon.geom_type != "Polygon":
            continue
        for ring in (polygon.exterior, *polygon.interiors):
            coords = np.asarray(ring.coords)[:, :2]
            vertices.append(coords)
            codes.append(
                [MplPath.MOVETO] + [MplPath.LINETO] * (len(coords) - 2) + [MplPath.CLOSEPOLY]
            )
    if not vertices:
        return PathPatch(MplPath(np.zeros((1, 2)), [MplPath.MOVETO]), **style)
    return PathPatch(MplPath(np.concatenate(vertices), np.concatenate(codes)), **style)


def _nice_length(span_m: float) -> float:
    """A round scale-bar length near a fifth of ``span_m``: 1, 2 or 5 times a power of ten."""
    target = span_m / 5.0
    power = 10.0 ** math.floor(math.log10(target))
    return max(step * power for step in (1.0, 2.0, 5.0) if step * power <= target)


def _draw_scale_bar(axes: Axes, extent: tuple[float, float, float, float], *, lang: str) -> None:
    x0, x1, y0, y1 = extent
    length = _nice_length(x1 - x0)
    words = texts(lang)
    label = (
        words["scale_km"].format(km=fmt_num(length / 1000.0, 1))
        if length >= 1000
        else words["scale_m"].format(m=int(length))
    )
    left, base = x0 + 0.04 * (x1 - x0), y0 + 0.04 * (y1 - y0)
    height = 0.008 * (y1 - y0)
    axes.add_patch(
        Rectangle(
            (left - 0.12 * length, base - 0.02 * (y1 - y0)),
            1.24 * length + 0.04 * length * len(label),
            0.075 * (y1 - y0),
            facecolor="white",
            edgecolor="none",
            alpha=0.85,
            zorder=9,
        )
    )
    for k in range(4):
        axes.fill_between(
            [left + k * length / 4, left + (k + 1) * length / 4],
            base,
            base + height,
            facecolor="black" if k % 2 == 0 else "white",
            edgecolor="black",
            linewidth=0.6,
            zorder=10,
        )
    for position, text in ((left, "0"), (left + length, label)):
        axes.text(
            position, base + 2.2 * height, text, ha="center", va="bottom", fontsize=7, zorder=10
        )


def _frame_map(
    axes: Axes, extent: tuple[float, float, float, float], attribution: str, *, lang: str
) -> None:
    """A map's frame: its extent at equal scale, no ticks, scale bar, north arrow, attribution."""
    axes.set_xlim(extent[0], extent[1])
    axes.set_ylim(extent[2], extent[3])
    axes.set_aspect("equal")
    axes.set_xticks([])
    axes.set_yticks([])
    _draw_scale_bar(axes, extent, lang=lang)
    _draw_north_arrow(axes, lang=lang)
    axes.text(
        0.995,
        0.004,
        attribution,
        transform=axes.transAxes,
        ha="right",
        va="bottom",
        fontsize=6,
        color="#404040",
        zorder=10,
        bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1.0},
    )


def _draw_north_arrow(axes: Axes, *, lang: str) -> None:
    axes.annotate(
        texts(lang)["north"],
        xy=(0.955, 0.955),
        xytext=(0.955, 0.865),
        xycoords="axes fraction",
        ha="center",
        va="center",
        fontsize=9,
        fontweight="bold",
        zorder=10,
        arrowprops={
            "arrowstyle": "-|>,head_width=0.35,head_length=0.7",
            "color": "black",
            "linewidth": 1.4,
        },
        bbox={
            "boxstyle": "round,pad=0.2",
            "facecolor": "white",
            "edgecolor": "none",
            "alpha": 0.85,
        },
    )


def _extent(data: PlanInputs) -> tuple[float, float, float, float]:
    """The map's extent in metres: the planning area's, padded by 3 %."""
    x_min, y_min, x_max, y_max = shapely.bounds(_area_outline(data))
    pad_x, pad_y = 0.03 * (x_max - x_min), 0.03 * (y_max - y_min)
    return x_min - pad_x, x_max + pad_x, y_min - pad_y, y_max + pad_y


def _area_outline(data: PlanInputs) -> shapely.Geometry:
    """The planning area in metres: the boundary, else the extract's box (lon/lat bounds of its streets).

    The box is the study area the bundled communities were picked from
    (:func:`siting.bundled.communities_in_network_area`).
    """
    if data.boundary is not None:
        area = data.boundary
    else:
        lon, lat = data.network.node_lonlat
        area = shapely.segmentize(shapely.box(lon.min(), lat.min(), lon.max(), lat.max()), 0.002)
    projection = data.network.projection
    return shapely.transform(
        area, lambda xy: np.column_stack(projection.forward(xy[:, 0], xy[:, 1]))
    )


def overview_map(
    data: PlanInputs, *, covered: np.ndarray, catchment: shapely.Geometry, lang: str
) -> str:
    """Draw the overview map; return it as a PNG data URI (see :func:`overview_figure`)."""
    return png_data_uri(overview_figure(data, covered=covered, catchment=catchment, lang=lang))


def overview_figure(
    data: PlanInputs, *, covered: np.ndarray, catchment: shapely.Geometry, lang: str
) -> Figure:
    """Draw the overview map: streets, communities, stations, walking areas, scale and north.

    Parameters
    ----------
    data
        The plan and its inputs.
    covered
        Which communities the plan covers (plan order).
    catchment
        The union of the new stations' walking areas, in the network's metres.
    lang
        The report language.
    """
    from quarterhour.api.report.tables import station_frame

    words = texts(lang)
    limit = limit_text(
        minutes=data.summary.get("minutes"), meters=data.summary.get("meters"), lang=lang
    )
    projection = data.network.projection
    extent = _extent(data)
    width_in = 7.0
    height_in = float(
        np.clip(width_in * (extent[3] - extent[2]) / (extent[1] - extent[0]), 4.5, 8.6)
    )
    with report_style():
        legend_in = 0.45
        figure = Figure(figsize=(width_in, height_in + legend_in))
        axes = figure.add_axes(
            (0.0, legend_in / (height_in + legend_in), 1.0, height_in / (height_in + legend_in))
        )
        lines = [np.asarray(line.coords) for line in data.network.edge_lines]
        axes.add_collection(
            LineCollection(lines, colors=COLOURS["network"], linewidths=0.35, zorder=1)
        )
        axes.add_patch(
            _geometry_patch(
                catchment,
                facecolor=COLOURS["catchment"],
                edgecolor=COLOURS["catchment_edge"],
                linewidth=0.4,
                alpha=0.45,
                zorder=2,
            )
        )
        districts_drawn, towns_drawn = _draw_areas(axes, data, lang=lang)
        outline = _area_outline(data)
        axes.add_patch(
            _geometry_patch(
                outline,
                facecolor="none",
                edgecolor=COLOURS["boundary"],
                linewidth=1.0,
                linestyle="--",
                zorder=3,
            )
        )
        cx, cy = projection.forward(data.communities.lon, data.communities.lat)
        status = data.plan.assignments["status"].astype(str).to_numpy()
        outside = status == "outside_boundary"
        uncovered = ~covered & ~outside
        axes.scatter(cx[covered], cy[covered], s=2.5, c=COLOURS["covered"], linewidths=0, zorder=4)
        axes.scatter(cx[outside], cy[outside], s=2.0, c=COLOURS["outside"], linewidths=0, zorder=4)
        axes.scatter(
            cx[uncovered],
            cy[uncovered],
            s=14,
            c=COLOURS["uncovered"],
            marker="x",
            linewidths=0.8,
            zorder=5,
        )
        stations = station_frame(data)
        sx, sy = projection.forward(
            stations["lon"].to_numpy(float), stations["lat"].to_numpy(float)
        )
        existing = (stations["kind"] == "existing").to_numpy()
        axes.scatter(
            sx[existing],
            sy[existing],
            s=18,
            marker="s",
            c=COLOURS["existing"],
            linewidths=0,
            zorder=6,
        )
        axes.scatter(
            sx[~existing],
            sy[~existing],
            s=22,
            marker="^",
            c=COLOURS["new"],
            edgecolors=COLOURS["new_edge"],
            linewidths=0.5,
            zorder=7,
        )
        ranks = stations["rank"].to_numpy()[~existing]
        labelled = ranks <= MAX_RANK_LABELS
        for x, y, rank in zip(
            sx[~existing][labelled], sy[~existing][labelled], ranks[labelled], strict=True
        ):
            axes.annotate(
                str(int(rank)),
                (x, y),
                xytext=(2.5, 2.0),
                textcoords="offset points",
                fontsize=4.6,
                color=COLOURS["new_edge"],
                zorder=8,
            )
        _frame_map(axes, extent, data.network.attribution, lang=lang)
        for spine in axes.spines.values():
            spine.set_linewidth(0.6)
        handles = [
            Line2D([], [], color=COLOURS["network"], linewidth=1.2, label=words["legend_network"]),
            Line2D(
                [],
                [],
                color=COLOURS["boundary"],
                linewidth=1.0,
                linestyle="--",
                label=words["legend_boundary"]
                if data.boundary is not None
                else words["legend_extent"],
            ),
            Patch(
                facecolor=COLOURS["catchment"],
                edgecolor=COLOURS["catchment_edge"],
                alpha=0.6,
                label=words["legend_catchment"].format(limit=limit),
            ),
            Line2D(
                [],
                [],
                marker="o",
                linestyle="",
                markersize=3.5,
                color=COLOURS["covered"],
                label=words["legend_covered"],
            ),
            Line2D(
                [],
                [],
                marker="x",
                linestyle="",
                markersize=5,
                color=COLOURS["uncovered"],
                label=words["legend_uncovered"],
            ),
            Line2D(
                [],
                [],
                marker="s",
                linestyle="",
                markersize=5,
                color=COLOURS["existing"],
                label=words["legend_existing"],
            ),
            Line2D(
                [],
                [],
                marker="^",
                linestyle="",
                markersize=6,
                markerfacecolor=COLOURS["new"],
                markeredgecolor=COLOURS["new_edge"],
                label=words["legend_new"],
            ),
        ]
        areas: tuple[tuple[bool, str, LineStyleType, str], ...] = (
            (districts_drawn, "district", "-", "legend_districts"),
            (towns_drawn, "town", ":", "legend_towns"),
        )
        handles += [
            Line2D([], [], color=COLOURS[kind], linewidth=0.8, linestyle=style, label=words[label])
            for drawn, kind, style, label in areas
            if drawn
        ]
        if outside.any():
            handles.append(
                Line2D(
                    [],
                    [],
                    marker="o",
                    linestyle="",
                    markersize=3.5,
                    color=COLOURS["outside"],
                    label=words["legend_outside"],
                )
            )
        figure.legend(
            handles=handles,
            loc="lower center",
            ncol=4,
            frameon=False,
            bbox_to_anchor=(0.5, 0.0),
            handlelength=1.8,
            columnspacing=1.4,
        )
        return figure


def plot(plan: CoverageModel | str | Path, *, lang: str = "en") -> Figure:
    """The report's overview map of a plan, as a matplotlib figure for a notebook.

    Parameters
    ----------
    plan
        A solved model built with ``CoverageModel.from_points``, or a plan folder.
    lang
        ``"en"`` (default) or ``"zh"``: the words of the legend.
    """
    from quarterhour.api.report.inputs import load_plan_inputs, plan_inputs_of_model
    from quarterhour.api.report.tables import new_station_frame

    data = load_plan_inputs(plan) if isinstance(plan, (str, Path)) else plan_inputs_of_model(plan)
    new = new_station_frame(data)
    catchment = catchments(data, new[["lon", "lat"]].to_numpy(float))
    covered = data.plan.assignments["covered"].astype(bool).to_numpy()
    return overview_figure(data, covered=covered, catchment=catchment, lang=lang)


def scenario_chart(scenarios: Sequence[Scenario], *, lang: str) -> str:
    """Bars of the new stations each scenario needs, with its bound; a PNG data URI."""
    words = texts(lang)
    plan = next((s for s in scenarios if s.is_plan), scenarios[0])
    if plan.meters is not None:
        panels: tuple[tuple[str, str, str, str], ...] = (
            ("meters", words["chart_by_meters"], words["chart_meters_axis"], "meters"),
        )
    else:
        panels = (
            (
                "speed",
                words["chart_by_speed"].format(minutes=fmt_num(plan.minutes)),
                words["chart_speed_axis"],
                "speed_kmh",
            ),
            (
                "minutes",
                words["chart_by_minutes"].format(speed=fmt_num(plan.speed_kmh)),
                words["chart_minutes_axis"],
                "minutes",
            ),
        )
    with report_style():
        figure = Figure(figsize=(7.0, 2.5))
        for k, (axis, title, xlabel, attribute) in enumerate(panels):
            axes = figure.add_subplot(1, len(panels), k + 1)
            chosen = [s for s in scenarios if s.axis == axis]
            labels = [fmt_num(getattr(s, attribute)) for s in chosen]
            values = [s.n_new for s in chosen]
            colours = [COLOURS["new"] if s.is_plan else "#fdd0a2" for s in chosen]
            bars = axes.bar(
                labels,
                values,
                color=colours,
                edgecolor=COLOURS["new_edge"],
                linewidth=0.5,
                width=0.6,
            )
            for bar, scenario in zip(bars, chosen, strict=True):
                axes.text(
                    bar.get_x() + bar.get_width() / 2,
                    bar.get_height(),
                    f"{scenario.n_new:,}",
                    ha="center",
                    va="bottom",
                    fontsize=7.5,
                )
                if scenario.bound_ceil is not None:
                    axes.hlines(
                        scenario.bound_ceil,
                        bar.get_x() - 0.05,
                        bar.get_x() + bar.get_width() + 0.05,
                        colors=COLOURS["bound"],
                        linewidth=1.2,
                    )
            axes.set_title(title)
            axes.set_xlabel(xlabel)
            axes.set_ylabel(words["chart_stations"])
            axes.set_ylim(0, max([*values, 1]) * 1.18)
            axes.spines[["top", "right"]].set_visible(False)
        figure.tight_layout(w_pad=2.0)
        return png_data_uri(figure)


def shortfall_map(data: PlanInputs, *, lang: str) -> str | None:
    """The stations by their aides shortfall, over-capacity communities marked (a PNG data URI).

    None for a plan without capacity (its stations have no ``shortfall``).
    """
    from quarterhour.api.report.tables import station_frame

    stations = station_frame(data)
    if "shortfall" not in stations:
        return None
    words = texts(lang)
    projection = data.network.projection
    extent = _extent(data)
    width_in = 7.0
    height_in = float(
        np.clip(width_in * (extent[3] - extent[2]) / (extent[1] - extent[0]), 4.5, 8.6)
    )
    with report_style():
        figure = Figure(figsize=(width_in, height_in))
        axes = figure.add_axes((0.0, 0.0, 1.0, 1.0))
        lines = [np.asarray(line.coords) for line in data.network.edge_lines]
        axes.add_collection(
            LineCollection(lines, colors=COLOURS["network"], linewidths=0.35, zorder=1)
        )
        cx, cy = projection.forward(data.communities.lon, data.communities.lat)
        over = data.plan.assignments["status"].astype(str).to_numpy() == "over_capacity"
        axes.scatter(
            cx[over], cy[over], s=14, c=COLOURS["uncovered"], marker="x", linewidths=0.8, zorder=4
        )
        sx, sy = projection.forward(
            stations["lon"].to_numpy(float), stations["lat"].to_numpy(float)
        )
        short = stations["shortfall"].fillna(0).to_numpy(float)
        aides = stations["aides"].fillna(0).to_numpy(float)
        enough = short <= 0
        axes.scatter(
            sx[enough],
            sy[enough],
            s=8 + 6 * aides[enough],
            c=COLOURS["covered"],
            linewidths=0,
            alpha=0.8,
            zorder=5,
        )
        axes.scatter(
            sx[~enough],
            sy[~enough],
            s=14 + 14 * short[~enough],
            c=COLOURS["uncovered"],
            edgecolors=COLOURS["new_edge"],
            linewidths=0.5,
            zorder=6,
        )
        for x, y, gap in zip(sx[~enough], sy[~enough], short[~enough], strict=True):
            axes.annotate(
                f"+{int(gap)}",
                (x, y),
                xytext=(3.0, 2.0),
                textcoords="offset points",
                fontsize=5.5,
                color=COLOURS["new_edge"],
                zorder=7,
            )
        _frame_map(axes, extent, data.network.attribution, lang=lang)
        handles = [
            Line2D(
                [],
                [],
                marker="o",
                linestyle="",
                color=COLOURS["covered"],
                label=words["legend_staffed"],
            ),
            Line2D(
                [],
                [],
                marker="o",
                linestyle="",
                color=COLOURS["uncovered"],
                label=words["legend_short"],
            ),
            Line2D(
                [],
                [],
                marker="x",
                linestyle="",
                color=COLOURS["uncovered"],
                label=words["legend_over_capacity"],
            ),
        ]
        axes.legend(handles=handles, loc="upper left", fontsize=6.5, frameon=True)
    return png_data_uri(figure)
