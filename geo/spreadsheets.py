"""Tables planners open in Excel: CSV and workbooks, written atomically and safe to open.

A text cell that starts with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return) is a
formula to a spreadsheet program: a community named ``=HYPERLINK(...)`` in a planner's list
would run when the plan is opened. Such cells are written with a leading apostrophe (OWASP's
advice against CSV injection); numbers, including negative ones, are left as they are.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from quarterhour.geo.atomic import atomic_path

if TYPE_CHECKING:
    from pathlib import Path

FORMULA_STARTS: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet program read a cell as a formula."""

SHEET_NAME_LIMIT = 31
"""Excel's longest sheet name."""


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def neutralised(value: object) -> object:
    """``value`` with a leading apostrophe if a spreadsheet would read it as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _is_number(value):
        return "'" + value
    return value


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells cannot run as formulas (see :func:`neutralised`)."""
    safe = frame.copy()
    safe.columns = [neutralised(str(column)) for column in safe.columns]
    for column in range(safe.shape[1]):
        values = safe.iloc[:, column]
        if values.dtype == object or isinstance(values.dtype, pd.StringDtype):
            safe.isetitem(column, values.map(neutralised))  # type: ignore[arg-type]  # pandas-stubs: a Series is array-like
        elif isinstance(values.dtype, pd.CategoricalDtype):
            safe.isetitem(column, values.astype(object).map(neutralised))  # type: ignore[arg-type]  # as above
    return safe


def write_csv(frame: pd.DataFrame, path: str | Path, *, float_format: str = "%.3f") -> None:
    """Write ``frame`` as UTF-8 CSV (with a byte order mark, so Excel reads Chinese), atomically.

    Parameters
    ----------
    frame
        The table.
    path
        The output file.
    float_format
        How numbers are written.
    """
    with atomic_path(path) as temporary:
        safe_frame(frame).to_csv(
            temporary, index=False, float_format=float_format, encoding="utf-8-sig"
        )


def write_workbook(sheets: dict[str, pd.DataFrame], path: str | Path) -> None:
    """Write an Excel workbook with one sheet per table, atomically.

    Parameters
    ----------
    sheets
        Sheet name -> table, in order.
    path
        The ``.xlsx`` file.
    """
    with atomic_path(path) as temporary, pd.ExcelWriter(temporary, engine="openpyxl") as writer:
        for name, frame in sheets.items():
            safe = safe_frame(frame)
            safe.to_excel(writer, sheet_name=name[:SHEET_NAME_LIMIT], index=False)
            sheet = writer.sheets[name[:SHEET_NAME_LIMIT]]
            for position, column in enumerate(safe.columns, start=1):
                texts = [str(column), *map(str, safe.iloc[:200, position - 1])]
                width = max(len(text.encode("gbk", errors="replace")) for text in texts)
                letter = sheet.cell(row=1, column=position).column_letter
                sheet.column_dimensions[letter].width = float(np.clip(width + 2, 8, 60))
