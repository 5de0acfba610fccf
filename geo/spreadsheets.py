"""Tables planners open in Excel: CSV and workbooks, written atomically and safe to open.

A text cell that starts with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return) is a
formula to a spreadsheet program: a community named ``=HYPERLINK(...)`` in a planner's list
would run when the plan is opened. Such cells are written with a leading apostrophe (OWASP's
advice against CSV injection); numbers, including negative ones, are left as they are.

Every text written is made safe for every format (:func:`safe_text`): control characters, which
an xlsx file cannot hold at all and which a terminal reading a CSV would obey, become U+FFFD;
a text longer than an Excel cell holds is cut (:func:`text_warnings` says which, for the summary).
Numbers are written exactly (the shortest text that reads back as the same float), so every
coordinate keeps the input's precision; ``decimals`` rounds named measurement columns only.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, overload

import numpy as np
import pandas as pd

from quarterhour.geo.atomic import atomic_path

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

FORMULA_STARTS: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet program read a cell as a formula."""

SHEET_NAME_LIMIT = 31
"""Excel's longest sheet name."""

CELL_CHARS = 32_767
"""Excel's longest cell text: longer texts are cut to it in every output."""

CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
"""Characters an xlsx cell cannot hold (XML 1.0) and a terminal would obey (escape, bell ...)."""

REPLACEMENT = "\ufffd"
"""What a control character becomes."""

WARNED_CELLS = 5
"""A warning names at most this many cells of a column."""


@overload
def safe_text(value: str) -> str: ...
@overload
def safe_text(value: object) -> object: ...
def safe_text(value: object) -> object:
    """``value`` without control characters (each becomes U+FFFD), cut to ``CELL_CHARS``.

    Tab, newline and carriage return stay; anything that is not a string is returned as is.
    """
    if not isinstance(value, str):
        return value
    if CONTROL_CHARACTERS.search(value):
        value = CONTROL_CHARACTERS.sub(REPLACEMENT, value)
    return value[:CELL_CHARS]


def text_warnings(frame: pd.DataFrame, *, what: str, label: str | None = None) -> list[str]:
    """What :func:`safe_text` changes in ``frame``'s text cells, one warning per column and kind.

    Parameters
    ----------
    frame
        The table (a plan's communities, its stations ...).
    what
        What its rows are, for the message (``"communities"``).
    label
        The column naming each row in the message (its id), else the row number (1 = first row).
    """
    names = (
        frame[label].astype(str).to_numpy()
        if label in frame
        else np.arange(1, len(frame) + 1).astype(str)
    )
    warnings = []
    for column in frame.columns:
        values = frame[column]
        if not (
            values.dtype == object
            or isinstance(values.dtype, (pd.StringDtype, pd.CategoricalDtype))
        ):
            continue
        cells = (
            values.cat.categories.to_numpy(object)  # its texts, once each
            if isinstance(values.dtype, pd.CategoricalDtype)
            else values.astype(object).to_numpy()
        )
        try:  # a column of texts only, the usual case: joined in C
            joined, longest = "\n".join(cells), max(map(len, cells), default=0)
        except TypeError:
            strings_only = [value for value in cells if isinstance(value, str)]
            joined, longest = "\n".join(strings_only), max(map(len, strings_only), default=0)
        if CONTROL_CHARACTERS.search(joined) is None and longest <= CELL_CHARS:
            continue  # one scan of the column's text found nothing to change
        texts = pd.Series(values.astype(object).to_numpy(), dtype=object)
        is_text = texts.map(lambda value: isinstance(value, str)).to_numpy(bool)
        strings = texts[is_text].astype(str)
        control = np.zeros(len(texts), bool)
        long = np.zeros(len(texts), bool)
        control[is_text] = strings.str.contains(CONTROL_CHARACTERS).to_numpy(bool)
        long[is_text] = (strings.str.len() > CELL_CHARS).to_numpy(bool)
        for rows, problem in (
            (control, "control characters, written as U+FFFD"),
            (long, f"texts longer than {CELL_CHARS:,} characters, cut to that length"),
        ):
            if rows.any():
                shown = ", ".join(names[rows][:WARNED_CELLS])
                more = int(rows.sum()) - min(int(rows.sum()), WARNED_CELLS)
                warnings.append(
                    f"{what}: '{safe_text(str(column))[:60]}' has {problem} in "
                    f"{int(rows.sum()):,} rows ({safe_text(shown)[:200]}"
                    f"{f' and {more:,} more' if more else ''})"
                )
    return warnings


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def neutralised(value: object) -> object:
    """``value`` made safe (:func:`safe_text`), with a leading apostrophe if a formula."""
    value = safe_text(value)
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _is_number(value):
        return ("'" + value)[:CELL_CHARS]
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


def rounded(frame: pd.DataFrame, decimals: Mapping[str, int] | None) -> pd.DataFrame:
    """``frame`` with the named numeric columns rounded (measurements, never coordinates)."""
    if not decimals:
        return frame
    present = {
        name: digits
        for name, digits in decimals.items()
        if name in frame and pd.api.types.is_float_dtype(frame[name])
    }
    return frame.round(present) if present else frame


def write_csv(
    frame: pd.DataFrame, path: str | Path, *, decimals: Mapping[str, int] | None = None
) -> None:
    """Write ``frame`` as UTF-8 CSV (with a byte order mark, so Excel reads Chinese), atomically.

    Parameters
    ----------
    frame
        The table.
    path
        The output file.
    decimals
        Digits of the measurement columns to round (``{"walk_min": 3}``); every other number,
        coordinates included, is written exactly.
    """
    with atomic_path(path) as temporary:
        safe_frame(rounded(frame, decimals)).to_csv(temporary, index=False, encoding="utf-8-sig")


def write_workbook(
    sheets: dict[str, pd.DataFrame],
    path: str | Path,
    *,
    decimals: Mapping[str, int] | None = None,
) -> None:
    """Write an Excel workbook with one sheet per table, atomically.

    Parameters
    ----------
    sheets
        Sheet name -> table, in order.
    path
        The ``.xlsx`` file.
    decimals
        Digits of the measurement columns to round, as for :func:`write_csv`.
    """
    with atomic_path(path) as temporary, pd.ExcelWriter(temporary, engine="openpyxl") as writer:
        for name, frame in sheets.items():
            safe = safe_frame(rounded(frame, decimals))
            safe.to_excel(writer, sheet_name=name[:SHEET_NAME_LIMIT], index=False)
            sheet = writer.sheets[name[:SHEET_NAME_LIMIT]]
            for position, column in enumerate(safe.columns, start=1):
                texts = [str(column), *map(str, safe.iloc[:200, position - 1])]
                width = max(len(text.encode("gbk", errors="replace")) for text in texts)
                letter = sheet.cell(row=1, column=position).column_letter
                sheet.column_dimensions[letter].width = float(np.clip(width + 2, 8, 60))
