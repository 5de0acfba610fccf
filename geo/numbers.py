"""Numbers as people type them in a planner's sheet: full-width, with separators, units, 约.

``１２１．４６５９８２`` is 121.465982, ``14,217`` and ``10515人`` are numbers of residents,
``1.3540万`` is 13,540 and ``约9676`` is 9,676 flagged as approximate. A weight cell that says
nothing (blank, ``-``, ``待核实``) is missing, not zero and not an error; anything else that is
not a number stays an error naming its row, column and value.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import numpy as np
import pandas as pd

MISSING_WORDS: tuple[str, ...] = (
    "",
    "无",
    "暂无",
    "不详",
    "未知",
    "空",
    "n/a",
    "na",
    "nan",
    "null",
    "none",
    "?",
)
"""Weight cells that say nothing (besides dashes, slashes and ``待...`` such as 待核实)."""

APPROXIMATE_PREFIXES: tuple[str, ...] = ("大约", "约", "~", "≈", "approx.", "approx", "ca.")
APPROXIMATE_SUFFIXES: tuple[str, ...] = ("左右", "余", "多")
UNIT_SCALES: dict[str, float] = {"万人": 1e4, "万": 1e4, "千人": 1e3, "人": 1.0, "户": 1.0}
UNIT_SUFFIXES = tuple(UNIT_SCALES)
"""Units a weight may carry, longest first after sorting, and what they multiply by."""

MAX_PAIR_CHARS = 64
"""Longest cell read as a coordinate pair."""

_DASHES = re.compile(r"^[-—–―/\\.·]+$")
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")
_SPACES = re.compile(r"\s+")
_INVISIBLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u2060\ufeff]")
"""Control and zero-width characters: pasted in from web pages and exporters, never meant."""

_HEMISPHERES = {"N": 1, "E": 1, "北": 1, "东": 1, "北纬": 1, "东经": 1}
_HEMISPHERES |= {"S": -1, "W": -1, "南": -1, "西": -1, "南纬": -1, "西经": -1}
_HEMISPHERE = "|".join(sorted(map(re.escape, _HEMISPHERES), key=len, reverse=True))
_DMS = re.compile(
    rf"^(?P<before>{_HEMISPHERE})?"
    r"(?P<degrees>\d+(?:\.\d+)?)(?:°|度)"
    r"(?:(?P<minutes>\d+(?:\.\d+)?)(?:'|′|分))?"
    r"(?:(?P<seconds>\d+(?:\.\d+)?)(?:\"|″|′′|''|秒))?"
    rf"(?P<after>{_HEMISPHERE})?$"
)


@dataclass(frozen=True)
class Numbers:
    """A column read as numbers.

    Attributes
    ----------
    values
        The numbers; NaN where missing or unreadable.
    approximate
        Where the cell said 约 (about), 左右 or similar.
    missing
        Where the cell said nothing (blank, ``-``, 待核实 ...).
    unreadable
        Where the cell holds text that is not a number.
    """

    values: np.ndarray
    approximate: np.ndarray
    missing: np.ndarray
    unreadable: np.ndarray


def normalised(text: str) -> str:
    """Full-width digits and punctuation as ASCII (NFKC), invisible characters out, trimmed."""
    return _INVISIBLE.sub("", unicodedata.normalize("NFKC", text)).strip()


def is_missing_word(text: str) -> bool:
    """Whether a (normalised) cell says nothing: blank, dashes, 待核实 and the like."""
    lowered = text.lower()
    return lowered in MISSING_WORDS or bool(_DASHES.match(lowered)) or lowered.startswith("待")


def parse_number(text: str, *, units: bool) -> tuple[float, bool]:
    """One typed number and whether it was marked approximate; NaN if it is not a number.

    Parameters
    ----------
    text
        The cell's text.
    units
        Whether units (人, 万 ...) and thousands separators may appear (weights, not
        coordinates: a coordinate's comma is never a thousands separator).
    """
    value = _SPACES.sub("", normalised(text))
    approximate = False
    for prefix in APPROXIMATE_PREFIXES:
        if value.lower().startswith(prefix):
            value, approximate = value[len(prefix) :], True
            break
    for suffix in APPROXIMATE_SUFFIXES:
        if value.endswith(suffix) and len(value) > len(suffix):
            value, approximate = value[: -len(suffix)], True
            break
    scale = 1.0
    if units:
        for unit, factor in sorted(UNIT_SCALES.items(), key=lambda item: -len(item[0])):
            if value.endswith(unit) and len(value) > len(unit):
                value, scale = value[: -len(unit)], factor
                break
        if _THOUSANDS.match(value):
            value = value.replace(",", "")
    else:
        value = value.rstrip("°")
    try:
        number = float(value)
    except ValueError:
        number = float("nan") if units else degrees_minutes_seconds(value)
        return number, approximate
    if not np.isfinite(number):
        return float("nan"), approximate
    # 1.3540万 is 13,540 exactly, not 13,539.999999999998.
    return (round(number * scale, 6) if scale != 1.0 else number), approximate


def degrees_minutes_seconds(text: str) -> float:
    """``121°26'49.13"E``, ``北纬31度14分``, ``31°14.5'S`` as decimal degrees; NaN otherwise.

    West and south are negative; minutes and seconds of 60 or more are no angle (NaN).
    """
    found = _DMS.match(text.upper())
    if found is None or (found["before"] and found["after"]):
        return float("nan")
    minutes = float(found["minutes"] or 0.0)
    seconds = float(found["seconds"] or 0.0)
    if minutes >= 60 or seconds >= 60:
        return float("nan")
    sign = _HEMISPHERES[found["before"] or found["after"] or "N"]
    return sign * (float(found["degrees"]) + minutes / 60 + seconds / 3600)


def parse_column(cells: pd.Series, *, units: bool, missing_allowed: bool) -> Numbers:
    """Read a column of cell texts as numbers (plain numbers at C speed, the rest one by one).

    Parameters
    ----------
    cells
        The column's cells as text.
    units
        Whether units and thousands separators may appear (see :func:`parse_number`).
    missing_allowed
        Whether cells that say nothing are ``missing`` (weights) rather than ``unreadable``.
    """
    text = cells.astype(str)
    values = pd.to_numeric(text.str.strip(), errors="coerce").to_numpy(dtype=np.float64, copy=True)
    n = len(values)
    approximate = np.zeros(n, bool)
    missing = np.zeros(n, bool)
    unreadable = np.zeros(n, bool)
    # pandas reads "inf" and "nan" as numbers; a planner's cell never means them.
    for position in np.flatnonzero(~np.isfinite(values)):
        cell = normalised(text.iloc[position])
        if missing_allowed and is_missing_word(cell):
            missing[position] = True
            values[position] = np.nan
            continue
        number, approximate[position] = parse_number(cell, units=units)
        values[position] = number
        unreadable[position] = not np.isfinite(number)
    return Numbers(values, approximate, missing, unreadable)


def split_pairs(cells: pd.Series) -> tuple[pd.Series, pd.Series, np.ndarray]:
    """Split one column of coordinate pairs (``121.48,31.20``, ``121.48，31.20``, space).

    Returns the first and second halves as text, and where a cell is not a pair.
    """
    text = cells.astype(str).map(normalised)
    # A pair is a few dozen characters; a longer cell is none (and the split would backtrack).
    text = text.where(text.str.len() <= MAX_PAIR_CHARS, "")
    parts = text.str.split(r"\s*[,;、]\s*|\s+", n=1, regex=True)
    is_pair = parts.map(len).to_numpy() == 2
    first = parts.map(lambda items: items[0] if len(items) == 2 else "")
    second = parts.map(lambda items: items[1] if len(items) == 2 else "")
    return first, second, ~is_pair
