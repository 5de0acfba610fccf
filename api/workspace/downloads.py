"""A scenario's files: what ``quarterhour plan`` writes, the bureau's report, the plan folder.

The files are written by :func:`quarterhour.siting.files.write_plan` into a temporary folder,
beside the project's uploaded files, which the summary's ``inputs`` names (relative paths), so
that ``quarterhour report`` runs on an unpacked ``plan.zip``.
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from quarterhour.api.workspace.projects import safe_name
from quarterhour.geo.errors import import_extra
from quarterhour.siting.files import Provenance, point_readings, write_plan

if TYPE_CHECKING:
    from quarterhour.api.workspace.engine import ProjectEngine
    from quarterhour.api.workspace.projects import Upload, UploadOptions
    from quarterhour.siting.result import SitingResult

MEDIA_TYPES = {
    "plan.xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "assignments.csv": "text/csv; charset=utf-8",
    "stations.geojson": "application/geo+json",
    "summary.json": "application/json",
    "report.pdf": "application/pdf",
    "plan.zip": "application/zip",
}
INPUTS = "inputs"


def content_disposition(filename: str) -> str:
    """An attachment header with the UTF-8 name (RFC 6266) and an ASCII fallback."""
    fallback = filename.encode("ascii", "replace").decode("ascii").replace("?", "_")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename)}"


def write_folder(
    result: SitingResult,
    engine: ProjectEngine,
    uploads: list[Upload],
    folder: Path,
    *,
    out_crs: str,
) -> None:
    """Write the plan folder of a scenario with its input files under ``inputs/``."""
    paths = {
        upload.role: (Path(INPUTS) / upload.role / safe_name(upload.filename)).as_posix()
        for upload in uploads
    }
    options: dict[str, UploadOptions] = {upload.role: upload.options for upload in uploads}
    homes = engine.files.communities
    provenance = Provenance(
        osm=Path(engine.network_path).name,  # the server's folders are not the reader's
        communities=paths["communities"],
        crs=homes.crs,
        existing=paths.get("existing"),
        existing_crs=options.get("existing", {}).get("crs"),
        candidates=paths.get("candidates"),
        candidates_crs=options.get("candidates", {}).get("crs"),
        boundary=paths.get("boundary"),
        boundary_crs=options.get("boundary", {}).get("crs") or "wgs84",
        sheet=options["communities"].get("sheet"),
        header_row=options["communities"].get("header_row"),
        columns=dict(homes.columns),
        reading=point_readings(
            communities=homes, existing=engine.files.existing, candidates=engine.files.candidates
        ),
    )
    write_plan(result, folder, provenance=provenance, out_crs=out_crs)
    for upload in uploads:  # after the plan: it replaces its folder whole
        path = folder / paths[upload.role]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(upload.data)


def plan_file(
    result: SitingResult,
    engine: ProjectEngine,
    uploads: list[Upload],
    name: str,
    *,
    out_crs: str,
) -> bytes:
    """One file of the plan folder, or the whole folder zipped (``plan.zip``)."""
    with tempfile.TemporaryDirectory(prefix="quarterhour-files-") as temporary:
        folder = Path(temporary) / "plan"
        write_folder(result, engine, uploads, folder, out_crs=out_crs)
        if name != "plan.zip":
            return (folder / name).read_bytes()
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(folder.rglob("*")):
                if path.is_file():
                    archive.write(path, path.relative_to(folder).as_posix())
        return buffer.getvalue()


def report_pdf(
    result: SitingResult, engine: ProjectEngine, uploads: list[Upload], *, out_crs: str
) -> bytes:
    """The bureau's report of a scenario (PDF, Chinese; the ``report`` extra)."""
    import_extra("weasyprint", "report")
    from quarterhour.api.report import build_report

    with tempfile.TemporaryDirectory(prefix="quarterhour-report-") as temporary:
        folder = Path(temporary) / "plan"
        write_folder(result, engine, uploads, folder, out_crs=out_crs)
        output = Path(temporary) / "report.pdf"
        build_report(folder, output, scenarios=False)
        return output.read_bytes()
