"""The plan report (``quarterhour report``): a PDF and a self-contained HTML page for planners.

Modules by concern: :mod:`~api.report.inputs` reads a plan folder and reloads its inputs,
:mod:`~api.report.tables` computes the figures and tables, :mod:`~api.report.scenarios` reruns
the plan at other speeds and limits, :mod:`~api.report.maps` draws the figures,
:mod:`~api.report.i18n` holds the words (Chinese and English) and :mod:`~api.report.build`
renders ``templates/report.html.j2`` and prints it with WeasyPrint.
"""

from __future__ import annotations

from api.report.build import ReportPaths, build_report

__all__ = ["ReportPaths", "build_report"]
