"""The package as users get it: one import name, no import cycles, a normal install, extras."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SUBPACKAGES = ("geo", "routing", "siting", "api")
OLD_NAMES = {"geo", "routing", "siting", "api"}


def _package_modules() -> dict[str, Path]:
    modules = {"quarterhour": ROOT / "__init__.py", "quarterhour.settings": ROOT / "settings.py"}
    modules["quarterhour.__main__"] = ROOT / "__main__.py"
    for sub in SUBPACKAGES:
        for path in (ROOT / sub).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(("quarterhour", *parts)).removesuffix(".__init__")
            modules[name] = path
    return modules


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """Every import of a file (module level, in functions, under TYPE_CHECKING)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.extend((alias.name, []) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, [alias.name for alias in node.names]))
    return found


def _import_graph() -> dict[str, set[str]]:
    modules = _package_modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for module, names in _imports(path):
            if not module.startswith("quarterhour"):
                continue
            targets = [f"{module}.{item}" for item in names if f"{module}.{item}" in modules]
            graph[name].update(targets or [module])
    return graph


def test_the_import_graph_has_no_cycles() -> None:
    graph = _import_graph()
    graph.pop("quarterhour")  # the public API re-exports; nothing imports it back
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                cycles.append([*trail[trail.index(target) :], target])
            elif target in graph and target not in state:
                visit(target, [*trail, target])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_nothing_imports_the_package_root_or_the_old_names() -> None:
    graph = _import_graph()
    importers = [name for name, targets in graph.items() if "quarterhour" in targets]
    assert importers in (["quarterhour.__main__"], [])
    for folder in ("tests", "benchmarks", *SUBPACKAGES):
        for path in (ROOT / folder).rglob("*.py"):
            top = {module.split(".")[0] for module, _ in _imports(path)}
            assert not top & OLD_NAMES, f"{path} imports {top & OLD_NAMES} (use quarterhour.)"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A normal (non-editable) install of this checkout, from its wheel, in a folder of its own."""
    folder = tmp_path_factory.mktemp("installed")
    source = folder / "source"  # setuptools builds in the source tree: build a copy
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".venv", ".git", "build", "*.egg-info", "__pycache__", "*.so"
        ),
    )
    wheels = folder / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(source)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (wheel,) = wheels.glob("quarterhour-*.whl")
    target = folder / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )
    names = {path.name for path in target.iterdir() if not path.name.endswith("-info")}
    assert names - {"bin"} == {"quarterhour"}
    return target


def _run_installed(
    installed: Path, cwd: Path, *args: str, **extra: str
) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(installed), **extra}
    environment.pop("QUARTERHOUR_DATA", None)
    return subprocess.run(
        [sys.executable, *args],
        check=False,
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=900,
    )


NOTEBOOK_SCRIPT = """
import quarterhour as qh
assert qh.__file__.startswith({site!r}), qh.__file__
try:
    import geo
except ModuleNotFoundError:
    pass
else:
    raise SystemExit("import geo must fail: " + geo.__file__)
net = qh.load_network(qh.settings.default_osm_path())
homes = qh.bundled_communities(net)
stations = qh.points_from_frame(homes.to_geodataframe().iloc[::60].assign(id=lambda f: "S" + f["id"]))
iso = qh.isochrones(net, (121.4737, 31.2304), minutes=[5, 10, 15], crs="gcj02")
assert list(iso["contour"]) == [5.0, 10.0, 15.0] and iso.crs.to_epsg() == 4326
wt = qh.walk_times(net, homes.subset(list(range(50))), stations, minutes=15)
assert {{"from_id", "to_id", "walk_min"}} <= set(wt.columns)
model = qh.CoverageModel.from_points(net, homes, existing=stations, minutes=15)
today = model.audit()
assert model.result is None
plan = model.solve()
assert len(plan.assignments) == len(homes)
print(plan.summary["n_new"], today.summary["covered"], len(plan.stations))
"""


@pytest.mark.slow
def test_normal_install_runs_the_notebook_api_and_the_cli(
    installed: Path, tmp_path: Path, isolated_cache: Path
) -> None:
    cache = {"QUARTERHOUR_CACHE": str(isolated_cache)}
    script = _run_installed(
        installed, tmp_path, "-c", NOTEBOOK_SCRIPT.format(site=str(installed)), **cache
    )
    assert script.returncode == 0, script.stderr
    help_text = _run_installed(installed, tmp_path, "-m", "quarterhour", "--help")
    assert help_text.returncode == 0 and "plan" in help_text.stdout
    plan = _run_installed(
        installed, tmp_path, "-m", "quarterhour", "plan", "-q", "-o", "plan", **cache
    )
    assert plan.returncode == 0, plan.stderr
    assert (tmp_path / "plan" / "summary.json").is_file()
    assert (tmp_path / "plan" / "plan.xlsx").is_file()


COMPILED = (
    "from quarterhour.routing import jit; import sys; "
    "sys.exit(0 if jit.compiled_module() is not None else 3)"
)


@pytest.mark.slow
def test_the_wheel_carries_current_compiled_kernels(installed: Path, tmp_path: Path) -> None:
    """The wheel's kernels were compiled from its sources; an edited kernel is never shadowed."""
    assert list((installed / "quarterhour" / "routing").glob("_kernels.*.so"))
    assert _run_installed(installed, tmp_path, "-c", COMPILED).returncode == 0
    edited = tmp_path / "site"
    shutil.copytree(installed, edited)
    kernel_source = edited / "quarterhour" / "siting" / "kernels" / "pattern.py"
    kernel_source.write_text(kernel_source.read_text() + "\n# edited after the build\n")
    stale = _run_installed(edited, tmp_path, "-c", COMPILED)
    assert stale.returncode == 3
    assert "older than their sources" in stale.stderr


BLOCK = "import sys; sys.modules[{module!r}] = None; "


@pytest.mark.parametrize(
    ("module", "code", "extra"),
    [
        (
            "fastapi",
            "from quarterhour.api.cli.main import main; raise SystemExit(main(['serve']))",
            "serve",
        ),
        (
            "weasyprint",
            (
                "from quarterhour.api.cli.main import main; "
                "raise SystemExit(main(['report', 'plan', '-o', 'r.pdf']))"
            ),
            "report",
        ),
    ],
)
def test_a_missing_extra_is_one_line_naming_the_pip_command(
    module: str, code: str, extra: str, tmp_path: Path, isolated_cache: Path
) -> None:
    if extra == "report":
        folder = tmp_path / "plan"
        setup = subprocess.run(
            [sys.executable, "-m", "quarterhour", "plan", "-q", "-o", str(folder)],
            env={**os.environ, "QUARTERHOUR_CACHE": str(isolated_cache)},
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        assert setup.returncode == 0, setup.stderr
    result = subprocess.run(
        [sys.executable, "-c", BLOCK.format(module=module) + code],
        cwd=tmp_path,
        env={**os.environ, "QUARTERHOUR_CACHE": str(isolated_cache)},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("quarterhour: error:")
    assert f"pip install 'quarterhour[{extra}]'" in last
    assert "Traceback" not in result.stderr


def test_explore_without_folium_names_the_notebooks_extra(tmp_path: Path) -> None:
    code = (
        BLOCK.format(module="folium")
        + "import quarterhour as qh\n"
        + "try:\n    qh.explore\nexcept qh.MissingExtraError as error:\n    print(error)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "pip install 'quarterhour[notebooks]'" in result.stdout
