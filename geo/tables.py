"""The table in a planner's CSV file or sheet: its text, its sheet, its header, its data rows.

District offices send sheets with a title above the header (merged across the columns), a
header of two rows (坐标 over 经度 / 纬度), blank rows, a 合计 row and 注 notes under the table,
and the data on the second sheet. The readers here turn a file into a grid of cell texts
(merged cells filled), find the header row by its known headers (or take the one given), and
mark the rows that are not data, each with its reason, so nothing is dropped unsaid.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from quarterhour.geo.errors import InputError
from quarterhour.geo.limits import (
    TooLargeError,
    check_cells,
    check_csv_file,
    check_extent,
    check_file_size,
    check_workbook,
)
from quarterhour.geo.numbers import UNIT_SCALES, normalised

if TYPE_CHECKING:
    from pathlib import Path

    import pandas as pd
    from python_calamine import CalamineWorkbook

    from quarterhour.geo.limits import ResolvedLimits

log = logging.getLogger("quarterhour")

FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("id", "code", "编号", "编码", "代码", "站点编号", "社区编号", "小区编号", "序号"),
    "name": (
        "name",
        "名称",
        "社区名称",
        "小区名称",
        "站点名称",
        "居委会",
        "居委会名称",
        "村居委名称",
        "社区",
        "居村",
        "title",
    ),
    "lon": ("lon", "lng", "long", "longitude", "经度", "东经", "经度坐标", "x"),
    "lat": ("lat", "latitude", "纬度", "北纬", "纬度坐标", "y"),
    "lonlat": (
        "经纬度",
        "坐标",
        "经纬度坐标",
        "坐标(经度,纬度)",
        "lnglat",
        "lonlat",
        "coordinates",
    ),
    "weight": (
        "weight",
        "population",
        "residents",
        "pop",
        "常住人口",
        "常住人口数",
        "人口",
        "人口数",
        "居民数",
        "户数",
        "人数",
        "权重",
    ),
    "district": ("district", "区", "区县", "所属区", "行政区", "adcode"),
    "town": (
        "town",
        "street",
        "streetname",
        "subdistrict",
        "township",
        "街镇",
        "街道",
        "镇",
        "乡镇",
        "所属街镇",
        "所属街道",
    ),
    "address": ("address", "地址", "详细地址", "站点地址"),
    # a station's aides; 人数 is also a weight alias: read as the weight first, and as the aides of
    # existing stations by the siting model (siting.capacity.station_aides)
    "aides": ("aides", "staff", "人员", "工作人员", "就业援助员", "服务人员", "人数"),
}
"""Each field and the headers (any case; full-width, spaces and a bracketed unit ignored) that
may hold it, the preferred first. ``lonlat`` is one column holding both coordinates."""

TOTAL_WORDS: tuple[str, ...] = (
    "合计",
    "总计",
    "小计",
    "共计",
    "总数",
    "合計",
    "總計",
    "total",
    "subtotal",
)
NOTE_PREFIXES: tuple[str, ...] = (
    "注",
    "备注",
    "说明",
    "数据来源",
    "来源",
    "填表",
    "制表",
    "审核",
    "note",
)
HEADER_SCAN_ROWS = 30
"""How many rows from the top may hold the header (titles and blank rows above it)."""

_BRACKETED = re.compile(r"[(\[【（].*?[)\]】）]")
_INSIDE_SPACE = re.compile(r"\s+")


MAX_HEADER_CHARS = 64
"""A longer cell is no header (and is not searched for a bracketed unit, quadratic in '('s)."""


def header_key(text: str) -> str:
    """A header as matched against the aliases: NFKC, lower case, no spaces, no ``*`` or unit."""
    text = str(text)
    if len(text) > MAX_HEADER_CHARS:
        return ""
    key = _INSIDE_SPACE.sub("", normalised(text)).lower().strip("*:：")
    bare = _BRACKETED.sub("", key)
    return bare or key


def header_unit(text: str) -> str:
    """The unit a header states in brackets (``常住人口（万人）`` gives ``万人``), or ``""``."""
    if len(str(text)) > MAX_HEADER_CHARS:
        return ""
    found = _BRACKETED.search(normalised(str(text)))
    return found.group(0)[1:-1].strip() if found else ""


def header_scale(header: str) -> float:
    """The factor a weight header's bracketed unit applies (``常住人口（万人）``: 10,000), else 1."""
    return UNIT_SCALES.get(header_unit(header), 1.0)


_ALIAS_FIELD: dict[str, str] = {
    alias.lower(): name for name, aliases in FIELD_ALIASES.items() for alias in aliases
}


def field_of_header(text: str) -> str | None:
    """The field a header names, if it is one of the aliases."""
    key = header_key(text)
    if not key:
        return None
    return _ALIAS_FIELD.get(key) or _ALIAS_FIELD.get(normalised(str(text)).lower())


@dataclass(frozen=True)
class Grid:
    """A sheet or CSV file as cell texts, before its header is known.

    Attributes
    ----------
    cells
        One list of texts per row, from the sheet's row 1 (CSV: record 1), all as wide.
    sheet
        The sheet's name (None for CSV).
    encoding
        The text encoding (CSV).
    other_encoding_rows
        Lines read in the other encoding (see :func:`decode_text`).
    merged
        Merged ranges ``((row0, col0), (row1, col1))``, 0-based and inclusive.
    notes
        What reading the file decided that a planner should know (a CSV's delimiter).
    """

    cells: list[list[str]]
    sheet: str | None = None
    encoding: str | None = None
    other_encoding_rows: tuple[int, ...] = ()
    merged: tuple[tuple[tuple[int, int], tuple[int, int]], ...] = ()
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Header:
    """Where a grid's header is: its rows (0-based), its column names, and how it was found."""

    rows: tuple[int, ...]
    names: list[str]
    reason: str

    @property
    def data_start(self) -> int:
        """The first row under the header (0-based)."""
        return self.rows[-1] + 1


# --- text and grids ---


def decode_text(raw: bytes, *, source: str, role: str) -> tuple[str, str, tuple[int, ...]]:
    """Decode a CSV file by the encoding that fits it; name the lines that do not fit.

    UTF-8 (with or without BOM) when the file is UTF-8; GB18030 (which contains GBK, what Excel
    saves on Chinese Windows) when fewer lines are UTF-8 beyond ASCII than are not. A UTF-8 file
    with a few lines that are not UTF-8 (a row pasted from a GBK file) reads those lines as
    GB18030 and names them; a line that neither reads is an error naming it.

    Returns
    -------
    tuple
        The text, the encoding's name, and the lines (1-based) read as GB18030 in a UTF-8 file.
    """
    try:
        return raw.decode("utf-8-sig"), "utf-8", ()
    except UnicodeDecodeError:
        pass
    lines = raw.split(b"\n")
    utf8_beyond_ascii = 0
    misfits = []
    for number, line in enumerate(lines, start=1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            misfits.append(number)
            continue
        utf8_beyond_ascii += not line.isascii()
    # Mostly GBK (a few of its lines may happen to be valid UTF-8): GB18030 throughout.
    if utf8_beyond_ascii < len(misfits):
        try:
            return raw.decode("gb18030"), "gb18030", ()
        except UnicodeDecodeError as error:
            number = raw.count(b"\n", 0, error.start) + 1
            msg = (
                f"{source}: {role} file is neither UTF-8 nor GBK/GB18030 text "
                f"({error.reason} on line {number})"
            )
            raise InputError(msg) from error
    texts = []
    unreadable = []
    misfit = set(misfits)
    for number, line in enumerate(lines, start=1):
        if number not in misfit:
            texts.append(line.decode("utf-8-sig" if number == 1 else "utf-8"))
            continue
        try:
            texts.append(line.decode("gb18030"))
        except UnicodeDecodeError:
            unreadable.append(number)
            texts.append("")
    if unreadable:
        listed = ", ".join(str(number) for number in unreadable[:5])
        msg = f"{source}: {role} file is UTF-8 but line(s) {listed} are neither UTF-8 nor GBK text"
        raise InputError(msg)
    return "\n".join(texts), "utf-8", tuple(misfits)


def csv_grid(path: Path, limits: ResolvedLimits, *, role: str, source: str | None = None) -> Grid:
    """Read a CSV file as a grid of texts, after checking its size, lines and cells."""
    source = source or path.name
    check_csv_file(path, limits, source=source)
    raw = path.read_bytes()
    text, encoding, misfits = decode_text(raw, source=source, role=role)
    del raw
    if not text.strip():
        msg = f"{source}: {role} file is empty"
        raise InputError(msg)
    notes: list[str] = []
    padded_with_nul = "\x00" in text
    delimiter = sniff_delimiter(text)
    if delimiter != ",":
        notes.append(f"fields separated by {DELIMITER_NAMES[delimiter]}, not commas")
    previous = csv.field_size_limit()
    csv.field_size_limit(max(limits.max_line_chars, 1))
    try:
        rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    except csv.Error as error:
        msg = f"{source}: not a valid CSV file ({error})"
        raise InputError(msg) from error
    finally:
        csv.field_size_limit(previous)
    del text
    if padded_with_nul:
        removed = _strip_nul_padding(rows)
        if removed:
            notes.append(f"{removed:,} NUL characters removed")
    check_cells(rows, limits, source=source)
    # Cells as written (as pandas reads them): the columns read as fields are stripped there.
    return Grid(
        _padded(rows, strip=False),
        encoding=encoding,
        other_encoding_rows=misfits,
        notes=tuple(notes),
    )


def _strip_nul_padding(rows: list[list[str]]) -> int:
    """Remove NULs at either end of each cell, in place; return how many were removed.

    Some exporters pad fixed-width fields with NULs, which no cell means. A NUL inside a
    name stays, for the writers to mark as U+FFFD and name the row, never a silent change.
    """
    removed = 0
    for row in rows:
        for position, cell in enumerate(row):
            if "\x00" in cell:
                trimmed = cell.strip("\x00")
                removed += len(cell) - len(trimmed)
                row[position] = trimmed
    return removed


DELIMITER_NAMES: dict[str, str] = {"\t": "tabs", ";": "semicolons", "|": "vertical bars"}
"""Delimiters other than the comma that a CSV (or .txt/.tsv) file may use, by name."""

SNIFF_LINES = 30
"""Lines looked at to tell a file's delimiter."""


def sniff_delimiter(text: str) -> str:
    """The comma, unless no line of the file's start has one and another delimiter is there.

    Tab-separated text is what a copy from a spreadsheet gives, semicolons what Excel writes
    where the comma is the decimal sign; a file with any comma at its start stays a CSV, so a
    comma inside a name can never turn a CSV into something else.
    """
    lines = [line for line in text[: 64 * 1024].splitlines()[:SNIFF_LINES] if line.strip()]
    if not lines or any("," in line for line in lines):
        return ","
    counts = {delimiter: sum(delimiter in line for line in lines) for delimiter in DELIMITER_NAMES}
    best = max(counts, key=lambda delimiter: counts[delimiter])
    return best if counts[best] else ","


def workbook_sheets(
    path: Path, limits: ResolvedLimits, *, source: str | None = None
) -> CalamineWorkbook:
    """Open a checked workbook (``.xlsx``, or an old ``.xls``) with calamine; the caller closes it.

    An ``.xls`` file is not compressed: its size bound holds what it can unpack to, and each
    sheet's extent is checked before it is read (:func:`sheet_grid`).
    """
    from python_calamine import CalamineWorkbook

    source = source or path.name
    if source.lower().endswith(".xls"):  # the file's own name (an upload is stored under another)
        check_file_size(path, limits, source=source)
    else:
        check_workbook(path, limits, source=source)
    try:
        return CalamineWorkbook.from_path(str(path))
    except Exception as error:  # calamine raises its own types for broken files
        msg = f"{source}: not a readable Excel workbook ({error})"
        raise InputError(msg) from error


def sheet_grid(
    workbook: CalamineWorkbook, name: str, limits: ResolvedLimits, *, source: str
) -> Grid:
    """One sheet of an open workbook as a grid of texts, merged cells known."""
    try:
        sheet = workbook.get_sheet_by_name(name)
        where = f"sheet {name!r}"
        check_extent(sheet.total_height, sheet.total_width, limits, source=source, where=where)
        values = sheet.to_python(skip_empty_area=False)
        merged = tuple(getattr(sheet, "merged_cell_ranges", None) or ())
    except TooLargeError:
        raise
    except Exception as error:  # calamine raises its own types for broken sheets
        msg = f"{source}: sheet {name!r} cannot be read ({error})"
        raise InputError(msg) from error
    rows = [
        [value.strip() if type(value) is str else cell_text(value) for value in row]
        for row in values
    ]
    check_cells(rows, limits, source=source)
    return Grid(_padded(rows), sheet=name, merged=merged)


def cell_text(value: object) -> str:
    """A cell's value as the text a planner sees (``121.440678``, ``14217``, ``2024-01-02``)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if not np.isfinite(value):
            return ""
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return str(value).strip()


def _padded(rows: list[list[str]], *, strip: bool = True) -> list[list[str]]:
    width = max(map(len, rows), default=0)
    if strip:
        rows = [[cell.strip() for cell in row] for row in rows]
    for row in rows:
        if len(row) < width:
            row.extend([""] * (width - len(row)))
    return rows


def fill_merged(grid: Grid, *, rows: range, skip_columns: tuple[int, ...] = ()) -> int:
    """Copy each merged range's value to its other cells within ``rows``; return cells filled.

    A 街镇 merged over the communities of one town gives each of them the town. Columns in
    ``skip_columns`` (the weight: one figure shared by merged rows is not each row's) are left.
    """
    filled = 0
    height = len(grid.cells)
    for (row0, col0), (row1, col1) in grid.merged:
        if row0 >= height or row0 not in rows:
            continue
        value = grid.cells[row0][col0] if col0 < len(grid.cells[row0]) else ""
        if not value:
            continue
        for row in range(row0, min(row1, height - 1) + 1):
            cells = grid.cells[row]
            for column in range(col0, min(col1, len(cells) - 1) + 1):
                if (
                    (row, column) != (row0, col0)
                    and column not in skip_columns
                    and not cells[column]
                ):
                    cells[column] = value
                    filled += 1
    return filled


# --- the header ---


def _fields_in(row: list[str], named: set[str]) -> set[str]:
    found = set()
    for raw in row:
        cell = raw.strip()
        if not cell:
            continue
        if cell in named:
            found.add(f"named:{cell}")
        field_name = field_of_header(cell)
        if field_name is not None:
            found.add(field_name)
    return found


def _score(fields_found: set[str]) -> int:
    coordinates = {"lon", "lat"} <= fields_found or "lonlat" in fields_found
    return len(fields_found) + (3 if coordinates else 0)


def _looks_numeric(cell: str) -> bool:
    try:
        float(normalised(cell))
    except ValueError:
        return False
    return True


def find_header(grid: Grid, *, given: int | None = None, named: tuple[str, ...] = ()) -> Header:
    """Find the header: the row (among the first 30) whose cells best match the known headers.

    Parameters
    ----------
    grid
        The table.
    given
        The header's row as the sheet numbers it (1-based), overriding the search.
    named
        Column names the caller gave for fields (they count as known headers).
    """
    cells = grid.cells
    known = set(named)
    if given is not None:
        if not 1 <= given <= len(cells):
            msg = f"the header row {given} is past the table's {len(cells):,} rows"
            raise InputError(msg)
        top, reason = given - 1, "given"
    else:
        scores = [_score(_fields_in(row, known)) for row in cells[:HEADER_SCAN_ROWS]]
        best = max(scores, default=0)
        if best == 0:
            top = next((index for index, row in enumerate(cells) if any(row)), 0)
            reason = "first filled row: no known header found"
        else:
            top = scores.index(best)
            reason = "the first row with the known headers"
    rows: tuple[int, ...] = (top,)
    names = [cell.strip() for cell in cells[top]] if cells else []
    below = [cell.strip() for cell in cells[top + 1]] if top + 1 < len(cells) else []
    above = [cell.strip() for cell in cells[top - 1]] if top >= 1 else []
    if below and _fields_in(below, known) and not any(_looks_numeric(cell) for cell in below):
        # 坐标 over 经度 / 纬度: the lower row names the columns it has, the upper the rest.
        names = [lower or upper for upper, lower in zip(names, below, strict=True)]
        rows = (top, top + 1)
    elif _upper_header(above, names, known):
        names = [lower or upper for upper, lower in zip(above, names, strict=True)]
        rows = (top - 1, top)
    return Header(rows, _unique_names(names), reason)


def _upper_header(above: list[str], names: list[str], known: set[str]) -> bool:
    """Whether the row above the header is its upper half (group headers such as 坐标)."""
    if len({cell for cell in above if cell}) < 2 or any(_looks_numeric(cell) for cell in above):
        return False
    return bool(_fields_in(above, known)) or not all(names)


def _unique_names(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    unique = []
    for position, given in enumerate(names):
        name = given or f"Unnamed: {position}"
        count = seen.get(name, 0)
        seen[name] = count + 1
        unique.append(name if count == 0 else f"{name}.{count}")
    return unique


# --- rows that are not data ---


def _is_total(cells: list[str]) -> bool:
    for cell in cells:
        key = _INSIDE_SPACE.sub("", normalised(cell)).lower().rstrip(":：")
        if key in TOTAL_WORDS or any(key.startswith(word + ":") for word in TOTAL_WORDS):
            return True
    return False


def _is_note(cells: list[str]) -> bool:
    first = next((cell for cell in cells if str(cell).strip()), "")
    key = normalised(str(first)).lower()
    return any(key.startswith(prefix) for prefix in NOTE_PREFIXES)


def classify_rows(table: pd.DataFrame, located: np.ndarray, *, blank: np.ndarray) -> np.ndarray:
    """The reason each row is not data (``""`` for a data row): blank, total or note.

    A total (合计, 总计, 小计 in a cell) or a note (注, 备注, 说明 first) is only one on a row
    without coordinates; rows without coordinates after a note continue it. Blank rows after
    the last filled one are ``"trailing"`` (formatting, not rows of the table).

    Parameters
    ----------
    table
        The data rows as texts.
    located
        Whether each row has readable coordinates.
    blank
        Whether each row was blank as read (before merged cells were filled).
    """
    reasons = np.full(len(table), "", dtype=object)
    if len(table) == 0:
        return reasons
    # Only rows without coordinates can be anything but data: look at those alone.
    candidates = np.flatnonzero(~located | blank)
    values = table.iloc[candidates].to_numpy(dtype=object).tolist() if len(candidates) else []
    in_note = False
    previous = -2
    for position, cells in zip(candidates, values, strict=True):
        in_note = in_note and position == previous + 1  # a data row ends a note
        previous = int(position)
        if blank[position] or not any(str(cell).strip() for cell in cells):
            reasons[position] = "blank"
            continue
        if _is_note(cells) or in_note:
            reasons[position], in_note = "note", True
        elif _is_total(cells):
            reasons[position] = "total"
    filled = np.flatnonzero(reasons != "blank")
    last = int(filled[-1]) if len(filled) else -1
    reasons[last + 1 :] = "trailing"
    return reasons


def first_text(cells: list[str], *, limit: int = 40) -> str:
    """The first filled cell of a row, cut to ``limit`` characters, for messages."""
    text = next((str(cell).strip() for cell in cells if str(cell).strip()), "")
    return text if len(text) <= limit else text[: limit - 1] + "…"
