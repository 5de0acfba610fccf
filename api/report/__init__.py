"""The plan report (``quarterhour report``, ``qh.report``): a PDF and a self-contained HTML page.

Modules by concern: :mod:`~quarterhour.api.report.inputs` reads a plan folder and reloads its
inputs (or takes them from a solved model), :mod:`~quarterhour.api.report.tables` computes the
figures and tables, :mod:`~quarterhour.api.report.scenarios` reruns the plan at other speeds and
limits, :mod:`~quarterhour.api.report.maps` draws the figures, :mod:`~quarterhour.api.report.i18n`
holds the words (Chinese and English), :mod:`~quarterhour.api.report.webmap` the notebooks'
interactive maps, and :mod:`~quarterhour.api.report.build` renders ``templates/report.html.j2``
and prints it with WeasyPrint. Needs the ``report`` extra.
"""

from __future__ import annotations

from quarterhour.geo.errors import import_extra

import_extra("jinja2", "report")
import_extra("matplotlib", "report")

from quarterhour.api.report.build import ReportPaths, build_report  # noqa: E402

__all__ = ["ReportPaths", "build_report"]
