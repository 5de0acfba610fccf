"""Build the plan report: a self-contained HTML file and the PDF printed from it.

``report.html`` embeds its figures as data URIs (it can be mailed or archived alone); the PDF
is the same HTML printed by WeasyPrint on A4 with page numbers. Both are written atomically.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2
import numpy as np

from quarterhour import settings
from quarterhour.api.report.i18n import check_lang, fmt_bound, fmt_int, fmt_num, fmt_pct, texts
from quarterhour.api.report.inputs import PlanInputs, load_plan_inputs, plan_inputs_of_model
from quarterhour.api.report.maps import (
    CJK_FAMILY,
    MAX_RANK_LABELS,
    catchment_buffer_m,
    catchments,
    cjk_font_family,
    overview_map,
    scenario_chart,
    shortfall_map,
)
from quarterhour.api.report.outlines import read_named_outlines
from quarterhour.api.report.scenarios import Scenario, run_scenarios
from quarterhour.api.report.tables import (
    ReportTables,
    build_tables,
    new_station_frame,
    station_crs,
)
from quarterhour.geo.atomic import atomic_path, write_text
from quarterhour.geo.errors import InputError, import_extra
from quarterhour.routing.progress import progress_bar

if TYPE_CHECKING:
    from quarterhour.siting.model import CoverageModel

log = logging.getLogger("quarterhour")

TEMPLATES = Path(__file__).resolve().parent / "templates"
"""The Jinja templates of the report."""


@dataclass(frozen=True)
class ReportPaths:
    """The files a report build wrote."""

    pdf: Path
    html: Path


def build_report(
    plan: str | Path | CoverageModel,
    output: str | Path,
    *,
    boundary: str | Path | None = None,
    boundary_crs: str | None = None,
    towns: str | Path | None = None,
    towns_crs: str | None = None,
    lang: str = "zh",
    scenarios: bool = True,
    quiet: bool = True,
) -> ReportPaths:
    """Write ``output`` (PDF) and, beside it, the same report as self-contained HTML.

    Parameters
    ----------
    plan
        A plan folder written by ``quarterhour plan``, or a solved model
        (``CoverageModel.from_points(...).solve()``).
    output
        The PDF file; the HTML goes beside it with the suffix ``.html``.
    boundary
        GeoJSON outline of the planning area to draw (default: the plan's boundary, else the
        streets' extent).
    boundary_crs
        Coordinates of ``boundary``: ``"wgs84"``, ``"gcj02"`` or ``"bd09"``.
    towns
        GeoJSON of named town/street outlines to draw on the overview map, over the bundled
        district outlines (see :func:`~quarterhour.api.report.outlines.read_named_outlines`).
    towns_crs
        Coordinates of ``towns`` (required with it: never guessed).
    lang
        ``"zh"`` (default) or ``"en"``.
    scenarios
        Rerun the plan at other speeds and limits for the scenario comparison.
    quiet
        Hide the progress bar (reading, scenarios and maps, HTML, PDF).

    Raises
    ------
    InputError
        If the plan folder or an input it names is missing or broken, or ``output`` is not a PDF.
    FontMissingError
        If no Chinese font is installed (package ``fonts-noto-cjk``).
    """
    started = time.perf_counter()
    lang = check_lang(lang)
    output = Path(output)
    if output.suffix.lower() != ".pdf":
        msg = f"{output}: the report is written as PDF, name it ….pdf"
        raise InputError(msg)
    cjk_font_family()  # fail before any work if the Chinese font is missing
    town_outlines = read_named_outlines(towns, crs=towns_crs) if towns is not None else ()
    with progress_bar(total=4, desc="report", unit="step", quiet=quiet) as bar:
        if isinstance(plan, (str, Path)):
            data = load_plan_inputs(plan, boundary=boundary, boundary_crs=boundary_crs)
        else:
            from quarterhour.geo.boundary import read_boundary

            outline = (
                read_boundary(boundary, crs=boundary_crs, crs_param="boundary_crs")
                if boundary is not None
                else None
            )
            data = plan_inputs_of_model(plan, boundary=outline)
        data = replace(data, towns=town_outlines)
        bar.update()
        html = render_html(data, lang=lang, scenarios=scenarios)
        bar.update()
        paths = ReportPaths(pdf=output, html=output.with_suffix(".html"))
        write_text(paths.html, html)
        bar.update()
        write_pdf(html, paths.pdf)
        bar.update()
    log.info("wrote %s and %s in %.1f s", paths.pdf, paths.html, time.perf_counter() - started)
    return paths


def write_pdf(html: str, path: str | Path) -> None:
    """Print ``html`` to an A4 PDF at ``path``, atomically."""
    weasyprint = import_extra("weasyprint", "report")

    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    with atomic_path(path) as temporary:
        weasyprint.HTML(string=html, base_url=str(Path(path).resolve().parent)).write_pdf(
            str(temporary)
        )


def render_html(data: PlanInputs, *, lang: str, scenarios: bool = True) -> str:
    """The report as one self-contained HTML page (figures embedded as data URIs).

    Parameters
    ----------
    data
        The plan folder with the network and point files it was made from.
    lang
        ``"zh"`` or ``"en"``.
    scenarios
        Compute the scenario comparison (a few seconds a scenario).
    """
    words = texts(lang)
    tables = build_tables(data, lang=lang)
    new = new_station_frame(data)
    catchment = catchments(
        data, new[["lon", "lat"]].to_numpy(float) if not new.empty else np.zeros((0, 2))
    )
    covered = data.plan.assignments["covered"].astype(bool).to_numpy()
    map_uri = overview_map(data, covered=covered, catchment=catchment, lang=lang)
    runs = run_scenarios(data) if scenarios else []
    context = {
        "lang": lang,
        "t": words,
        "font": CJK_FAMILY,
        "today": dt.date.today().isoformat(),
        "folder": data.plan.folder.name,
        "summary": data.summary,
        "tables": tables,
        "bound_sentence": bound_sentence(data, tables, lang=lang),
        "today_only": data.summary["objective"] != "min_cover" and not data.summary.get("budget"),
        "map_uri": map_uri,
        "shortfall_map_uri": shortfall_map(data, lang=lang),
        "map_caption": words["map_caption"].format(
            limit=tables.headline["limit"],
            labelled=words["labelled_first"].format(n=MAX_RANK_LABELS)
            if len(new) > MAX_RANK_LABELS
            else "",
        ),
        "scenarios": [_scenario_row(run, lang=lang) for run in runs],
        "scenario_chart_uri": scenario_chart(runs, lang=lang) if runs else None,
        "inputs": _input_rows(data, lang=lang),
        "sources": _source_lines(data, lang=lang),
        "attribution": data.network.attribution,
        "network": words["network_description"].format(
            source=data.network.source,
            nodes=fmt_int(data.network.n_nodes),
            edges=fmt_int(data.network.n_edges),
            km=fmt_num(data.network.total_length_km, 0),
        ),
        "method": words.get(
            f"method_{data.summary.get('method')}", str(data.summary.get("method"))
        ),
        "buffer_m": fmt_int(catchment_buffer_m()),
        "station_crs": _crs_words(station_crs(data, new), lang=lang),
        "station_crs_short": CRS_LABELS.get(station_crs(data, new), ""),
        "boundary_note": _boundary_note(data, lang=lang),
    }
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return environment.get_template("report.html.j2").render(context)


CRS_LABELS = {"wgs84": "WGS84", "gcj02": "GCJ-02", "bd09": "BD-09"}
"""The short names of the coordinate systems, for table headers."""


def _crs_words(crs: str, *, lang: str) -> str:
    """A coordinate system in words (``GCJ-02（高德、腾讯地图坐标）``); mixed systems say so."""
    words = texts(lang)
    return words.get(f"crs_{crs}", crs) if crs else words["crs_mixed"]


def _boundary_note(data: PlanInputs, *, lang: str) -> str:
    """Which existing stations serve a bounded plan: those just outside too, or inside only."""
    serve = data.summary.get("stations_outside_boundary_serve")
    if serve is None:
        return ""
    return texts(lang)["stations_outside_serve" if serve else "stations_inside_only"]


def bound_sentence(data: PlanInputs, tables: ReportTables, *, lang: str) -> str:
    """Why no plan can do with fewer stations (or, for a budget plan, what the bound caps)."""
    words = texts(lang)
    summary = data.summary
    bound = tables.bound
    if summary["objective"] != "min_cover":
        return words["max_cover_text"].format(
            budget=fmt_int(summary.get("budget")),
            limit=tables.headline["limit"],
            covered=tables.headline["weight_covered"],
            share=tables.headline["weight_share"],
            bound=fmt_int(bound["value"]),
            gap=fmt_pct(bound["gap"]),
        )
    if bound["value"] is None or bound["ceil"] is None:
        return ""
    n_new = int(summary["n_new"])
    relaxation = (
        words["relaxation_lp"]
        if summary.get("method") == "exact"
        else words["relaxation_lagrangian"]
    )
    ceil = int(bound["ceil"])
    sentence = words["bound_text"].format(
        relaxation=relaxation, bound=fmt_bound(bound["value"]), ceil=fmt_int(ceil)
    )
    ending = "bound_exact" if n_new <= ceil else "bound_gap"
    return sentence + words[ending].format(
        n_new=fmt_int(n_new), extra=fmt_int(n_new - ceil), gap=fmt_pct(bound["gap"])
    )


def _scenario_row(run: Scenario, *, lang: str) -> dict[str, str]:
    words = texts(lang)
    if run.axis == "speed":
        label = words["scenario_speed"].format(speed=fmt_num(run.speed_kmh))
    elif run.axis == "minutes":
        label = words["scenario_minutes"].format(minutes=fmt_num(run.minutes))
    else:
        label = words["scenario_meters"].format(meters=fmt_int(run.meters))
    share = run.covered / run.n_communities if run.n_communities else 0.0
    return {
        "label": label + (words["this_plan"] if run.is_plan else ""),
        "speed": fmt_num(run.speed_kmh),
        "limit": fmt_num(run.minutes) if run.meters is None else fmt_int(run.meters),
        "n_new": fmt_int(run.n_new),
        "bound": fmt_int(run.bound_ceil) if run.lower_bound is not None else "–",
        "covered": f"{fmt_int(run.covered)} ({fmt_pct(share)})",
        "uncoverable": fmt_int(run.uncoverable),
        "is_plan": "1" if run.is_plan else "",
    }


def _input_rows(data: PlanInputs, *, lang: str) -> list[tuple[str, str]]:
    """(label, file name) of each input; full paths are left out of print."""
    words = texts(lang)
    source = data.provenance
    rows = []
    for key in ("osm", "communities", "existing", "candidates", "boundary"):
        value = getattr(source, key)
        if key == "boundary" and data.boundary_source:
            value = data.boundary_source
        if value is None:
            shown = words["input_none"]
        elif key == "communities" and source.bundled:
            shown = words["bundled_file"].format(name=settings.default_communities)
        else:
            shown = Path(str(value)).name
        rows.append((words[f"input_{key}"], shown))
    return rows


def _source_lines(data: PlanInputs, *, lang: str) -> list[str]:
    """Where the data came from, with dates and licences."""
    words = texts(lang)
    source = data.provenance
    lines = []
    if Path(source.osm).name == settings.default_osm:
        lines.append(words["source_osm"])
    else:
        name = Path(source.osm).name
        lines.append(words["source_user"].format(name=name) + f" — {data.network.attribution}")
    if source.bundled:
        lines.append(words["source_amap"])
        if source.selection:
            lines.append(words["source_selection"].format(**source.selection))
    else:
        lines.append(words["source_user"].format(name=Path(source.communities).name))
    return lines
