"""The plan report: a real PDF (rendered by poppler) whose figures match the plan's summary."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from typing import TYPE_CHECKING

import numpy as np
import pytest

from quarterhour import settings
from quarterhour.api.report import build_report
from quarterhour.api.report.i18n import fmt_bound, fmt_int, fmt_num, fmt_pct
from quarterhour.geo.errors import InputError
from quarterhour.siting.bundled import bundled_selection
from quarterhour.siting.files import BUNDLED_PREFIX, Provenance, write_plan
from quarterhour.siting.plan import run_plan
from quarterhour.siting.reasons import reason_text

if TYPE_CHECKING:
    from pathlib import Path

POPPLER = all(shutil.which(tool) for tool in ("pdftotext", "pdftoppm", "pdfimages", "pdfinfo"))
needs_poppler = pytest.mark.skipif(
    not POPPLER, reason="poppler-utils (pdftotext, pdftoppm) not installed"
)


def _run(*command: str) -> str:
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def plan_dir(tmp_path_factory: pytest.TempPathFactory, network_of) -> Path:
    """A plan of the bundled central Shanghai data, written as `quarterhour plan` does."""
    network = network_of("shanghai_center")
    selection = bundled_selection(network)
    result = run_plan(network, selection.points, quiet=True).result
    folder = tmp_path_factory.mktemp("plan")
    provenance = Provenance(
        osm=str(settings.default_osm_path()),
        communities=BUNDLED_PREFIX + settings.default_communities,
        crs="gcj02",
        selection=selection.counts,
    )
    write_plan(result, folder, provenance=provenance)
    return folder


@pytest.fixture(scope="module")
def report(plan_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Chinese report of the plan, with the scenario comparison."""
    output = tmp_path_factory.mktemp("report") / "report.pdf"
    build_report(plan_dir, output)
    return output


@pytest.fixture(scope="module")
def pdf_text(report: Path) -> str:
    return _run("pdftotext", "-layout", str(report), "-") if POPPLER else ""


@needs_poppler
def test_pdf_pages_and_images(report: Path, tmp_path: Path) -> None:
    info = _run("pdfinfo", str(report))
    pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))
    assert 4 <= pages <= 12
    assert "A4" in info or "595" in info
    rows = [line.split() for line in _run("pdfimages", "-list", str(report)).splitlines()[2:]]
    images = [row for row in rows if row[2] == "image"]
    assert len(images) == 2  # the overview map and the scenario chart
    width, height = (int(value) for value in images[0][3:5])
    assert min(width, height) > 1000  # sharp enough for print
    _run("pdftoppm", "-png", "-r", "30", "-f", "1", "-l", "2", str(report), str(tmp_path / "page"))
    assert sorted(path.name for path in tmp_path.glob("page-*.png")) == ["page-1.png", "page-2.png"]


@needs_poppler
def test_pdf_numbers_equal_summary(plan_dir: Path, pdf_text: str) -> None:
    summary = json.loads((plan_dir / "summary.json").read_text(encoding="utf-8"))
    text = " ".join(pdf_text.split())
    assert "摘要" in text and "总览图" in text and "建议新建站点" in text and "情景比较" in text
    for label, value in (
        ("社区（小区）数", fmt_int(summary["n_communities"])),
        ("建议新建站点", fmt_int(summary["n_new"])),
        ("规划后覆盖", fmt_int(summary["covered"])),
        ("新建站点数下界", fmt_bound(summary["lower_bound"])),
    ):
        assert label in text
        assert re.search(rf"(?<![\d.,]){re.escape(value)}(?![\d.,])", text), (label, value)
    assert f"至少需要 {math.ceil(summary['lower_bound'] - 1e-6)} 个新站点" in text
    assert f"本方案为 {summary['n_new']} 个" in text
    assert "88.43196" not in text and not re.search(
        r"\d\.\d{7,}", text
    )  # no float noise (coordinates have 6)
    assert "© OpenStreetMap contributors (ODbL)" in text
    assert "2025-08-09" in text and "2019" in text  # data dates
    assert "GCJ-02" in text
    assert "浦东新区" in text and "静安区" in text  # grouped by district from adcode
    # the bundled compounds outside the network's area are counted, and the rest is the plan
    selection = summary["inputs"]["selection"]
    assert selection["in_area"] == summary["communities_read"]
    assert selection["read"] == 8_995
    assert selection["read"] == sum(selection[k] for k in ("in_area", "outside_box", "off_streets"))
    assert (
        f"内置小区共 {fmt_int(selection['read'])} 个，其中 {fmt_int(selection['in_area'])} 个位于"
        in text
    )


@needs_poppler
def test_pdf_has_every_station_and_no_english_leftovers(plan_dir: Path, pdf_text: str) -> None:
    stations = json.loads((plan_dir / "stations.geojson").read_text(encoding="utf-8"))["features"]
    names = [f["properties"]["name"] for f in stations if f["properties"]["kind"] == "new"]
    text = " ".join(pdf_text.split())
    assert all(name in text for name in names)
    leftovers = re.findall(
        r"\b(heuristic|covered|stations?|communities|walking|bound|none)\b", text, flags=re.I
    )
    assert leftovers == []
    assert "无：所有社区都能在步行时限内到达某个可选站点" in text  # no uncoverable community


def test_html_is_self_contained(report: Path) -> None:
    html = report.with_suffix(".html").read_text(encoding="utf-8")
    assert html.count('src="data:image/png;base64,') == 2
    assert "http://" not in html and "https://" not in html
    assert 'lang="zh-CN"' in html


@needs_poppler
def test_english_report_without_scenarios(plan_dir: Path, tmp_path: Path) -> None:
    output = build_report(plan_dir, tmp_path / "plan_en.pdf", lang="en", scenarios=False).pdf
    text = " ".join(_run("pdftotext", str(output), "-").split())
    assert (
        "Summary" in text
        and "Why fewer is impossible" in text
        and "Scenarios were not computed" in text
    )
    assert "Pudong New Area" in text
    assert (tmp_path / "plan_en.html").is_file()


def test_bad_input_is_one_clear_error(plan_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="plan folder not found"):
        build_report(tmp_path / "missing", tmp_path / "r.pdf")
    broken = tmp_path / "broken"
    shutil.copytree(plan_dir, broken)
    (broken / "summary.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(InputError, match="broken JSON"):
        build_report(broken, tmp_path / "r.pdf")
    (broken / "summary.json").write_text(json.dumps({"n_new": 3}), encoding="utf-8")
    with pytest.raises(InputError, match="missing objective"):
        build_report(broken, tmp_path / "r.pdf")
    with pytest.raises(InputError, match="PDF"):
        build_report(plan_dir, tmp_path / "r.html")
    with pytest.raises(InputError, match="language"):
        build_report(plan_dir, tmp_path / "r.pdf", lang="fr")
    assert not (tmp_path / "r.pdf").exists() and not (tmp_path / "r.html").exists()


def test_reasons_are_translated() -> None:
    off = reason_text(
        "off_network", access_m=612.4, nearest_site_m=np.nan, limit="15 分钟", lang="zh"
    )
    assert off == "不在步行网络上：距最近可步行道路 612 米"
    far = reason_text(
        "no_site_in_reach", access_m=20.0, nearest_site_m=1234.4, limit="15 分钟", lang="zh"
    )
    assert far == "15 分钟内无可选站点；最近站点直线距离 1,234 米"
    spot = reason_text(
        "far_from_street", access_m=406.6, nearest_site_m=0.0, limit="10 分钟", lang="zh"
    )
    assert spot.startswith("离道路太远：即使就地设站，经道路往返也超过 10 分钟")
    assert (
        fmt_pct(0.99996) == "99.9%"
        and fmt_pct(1.0) == "100%"
        and fmt_num(88.43196843892363, 2) == "88.43"
    )
    assert fmt_bound(88.43196843892363) == "88.43" and fmt_bound(74.00015440791033) == "74.0002"
