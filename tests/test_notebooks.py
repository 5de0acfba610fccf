"""The planners' notebooks run from top to bottom on the bundled data, offline."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_there_are_four_notebooks() -> None:
    assert [path.name for path in NOTEBOOKS] == [
        "01_coverage_audit.ipynb",
        "02_plan_new_stations.ipynb",
        "03_compare_scenarios.ipynb",
        "04_staffing.ipynb",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_notebook_is_stored_without_outputs(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(not cell.outputs and cell.execution_count is None for cell in code)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_notebook_uses_only_the_public_api(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    code = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
    imports = re.findall(r"^\s*(?:from|import)\s+([\w.]+)", code, flags=re.MULTILINE)
    ours = [
        name
        for name in imports
        if name.split(".")[0] in {"quarterhour", "geo", "routing", "siting", "api"}
    ]
    assert ours == ["quarterhour"]
    assert "import quarterhour as qh" in code


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_notebook_runs(
    path: Path, tmp_path: Path, isolated_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "QUARTERHOUR_CACHE", str(isolated_cache)
    )  # the kernel shares the tests' network cache
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=600,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    errors = [
        output
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if output.output_type == "error"
    ]
    assert errors == []
    maps = list(tmp_path.glob("*.html"))
    assert maps, "every notebook saves its folium map"
    assert all("leaflet" in html.read_text(encoding="utf-8").lower() for html in maps)
