"""Bounds every point-file reader checks before it reads: size, rows, columns, cells, text runs.

A planner's list is a few thousand rows; a workbook of a few kilobytes can still claim a
million rows by sixteen thousand columns (one cell at ``XFD1048576``) or unpack to gigabytes of
whitespace, and a CSV file can be one line of hundreds of megabytes. Each reader measures what
it is given against :class:`ReaderLimits` first (the zip's members and every sheet's cell
positions are scanned as a stream, never parsed into memory) and stops with one error naming
the file, the bound and the option that raises it.
"""

from __future__ import annotations

import itertools
import re
import zipfile
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

import numpy as np

from quarterhour import settings
from quarterhour.geo.errors import InputError, TooLargeError

if TYPE_CHECKING:
    from pathlib import Path

MB = 1024 * 1024
_CHUNK = 4 * MB


@dataclass(frozen=True)
class ReaderLimits:
    """The bounds of the point-file readers (defaults: :mod:`quarterhour.settings`).

    Attributes
    ----------
    max_file_mb
        Largest file, in MB on disk.
    max_rows
        Most rows (a sheet's last row, a CSV file's lines).
    max_columns
        Most columns (a sheet's last column, the fields of a CSV line).
    max_cells
        Most cells of a sheet's used area (last row times last column).
    max_cell_chars
        Longest text of one cell (or between two tags of a workbook's XML).
    max_line_chars
        Longest CSV line, in bytes.
    max_part_mb
        Largest decompressed part of an ``.xlsx`` workbook, in MB.
    """

    max_file_mb: float | None = None
    max_rows: int | None = None
    max_columns: int | None = None
    max_cells: int | None = None
    max_cell_chars: int | None = None
    max_line_chars: int | None = None
    max_part_mb: float | None = None

    def resolved(self) -> ResolvedLimits:
        """The same bounds with every unset one taken from :mod:`quarterhour.settings` now."""
        values = {
            item.name: getattr(self, item.name)
            if getattr(self, item.name) is not None
            else getattr(settings, item.name)
            for item in fields(self)
        }
        return ResolvedLimits(**values)


@dataclass(frozen=True)
class ResolvedLimits(ReaderLimits):
    """:class:`ReaderLimits` with every bound set, as :meth:`ReaderLimits.resolved` returns them."""

    max_file_mb: float
    max_rows: int
    max_columns: int
    max_cells: int
    max_cell_chars: int
    max_line_chars: int
    max_part_mb: float


def over(source: str, what: str, found: str, name: str, bound: float) -> TooLargeError:
    """The error for a bound passed: the file, what it holds, the bound and its option.

    Parameters
    ----------
    source
        The file's name.
    what
        What was measured (``"rows"``, ``"decompressed part xl/sharedStrings.xml"``).
    found
        What the file holds, in words.
    name
        The bound's name (a field of :class:`ReaderLimits`), which is also the option's.
    bound
        The bound's value.
    """
    msg = (
        f"{source}: {what}: {found}, over the bound of {_number(bound)}; a planner's file is "
        f"far smaller: if this one is right, raise the bound with {{param}}{bound * 10:.0f}"
    )
    return TooLargeError(msg, param=name)


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,g}"


def longest_run(block: bytes, stop: bytes, *, open_run: int = 0) -> tuple[int, int, int]:
    """The longest run of bytes other than ``stop`` in a block, counting a run left open before it.

    Linear in the block: a regular expression for a long run backtracks, quadratic in its length.

    Returns
    -------
    tuple
        The longest run, where it starts (an offset, negative if it began before the block), and
        the length of the run still open at the block's end.
    """
    marks = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == stop[0])
    if len(marks) == 0:
        run = open_run + len(block)
        return run, -open_run, run
    starts = np.concatenate(([-open_run], marks + 1))
    ends = np.concatenate((marks, [len(block)]))
    lengths = ends - starts
    longest = int(np.argmax(lengths))
    return int(lengths[longest]), int(starts[longest]), int(lengths[-1])


def check_file_size(path: Path, limits: ResolvedLimits, *, source: str | None = None) -> int:
    """Return the file's size in bytes, or raise if it is over ``max_file_mb``."""
    size = path.stat().st_size
    if size > limits.max_file_mb * MB:
        raise over(
            source or path.name,
            "file size",
            f"{size / MB:,.1f} MB",
            "max_file_mb",
            limits.max_file_mb,
        )
    return size


def check_csv_file(path: Path, limits: ResolvedLimits, *, source: str | None = None) -> None:
    """Check a CSV file's size, lines and line lengths as a stream, before it is read whole."""
    source = source or path.name
    check_file_size(path, limits, source=source)
    bound = limits.max_line_chars
    lines = 0
    open_run = 0  # bytes of the line still open at the end of the previous block
    with path.open("rb") as stream:
        while block := stream.read(_CHUNK):
            longest, start, open_run = longest_run(block, b"\n", open_run=open_run)
            if longest > bound:
                line = lines + block.count(b"\n", 0, max(start, 0)) + 1
                found = f"line {line:,} is longer than that"
                raise over(source, "line length (bytes)", found, "max_line_chars", bound)
            lines += block.count(b"\n")
            if lines > limits.max_rows:
                found = f"more than {lines:,} lines"
                raise over(source, "rows", found, "max_rows", limits.max_rows)


def check_cells(
    rows: list[list[str]], limits: ResolvedLimits, *, source: str, first_row: int = 1
) -> None:
    """Check a table's width and its longest cell (rows as read, numbered from ``first_row``)."""
    widest = max(map(len, rows), default=0)
    longest = max(map(len, itertools.chain.from_iterable(rows)), default=0)
    if widest <= limits.max_columns and longest <= limits.max_cell_chars:
        return
    for number, row in enumerate(rows, start=first_row):
        if len(row) > limits.max_columns:
            found = f"row {number:,} has {len(row):,} fields"
            raise over(source, "columns", found, "max_columns", limits.max_columns)
        cell = max(map(len, row), default=0)
        if cell > limits.max_cell_chars:
            found = f"row {number:,} has a cell of {cell:,} characters"
            raise over(source, "cell length", found, "max_cell_chars", limits.max_cell_chars)


@dataclass
class _SheetExtent:
    """What a stream scan of one sheet's XML found: its last row and column, its cells."""

    last_row: int = 0
    last_column: int = 0
    cells: int = 0
    row_elements: int = 0
    # Cells without a position sit after the previous one: the scan follows the row it is in.
    row_number: int = 0
    column_number: int = 0


_FAST_CELL = re.compile(rb'<c r="([A-Z]{1,4})([0-9]{1,8})"')
_FAST_ROW = re.compile(rb'<row r="([0-9]{1,8})"')
_ANY_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(row|c)(?=[\s>/])([^>]*)")
_POSITION = re.compile(rb'\br="([A-Za-z]{0,4})([0-9]{0,8})"')


def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters.upper():
        number = number * 26 + letter - 64
    return number


def _scan_fast(chunk: bytes, extent: _SheetExtent) -> bool:
    """Positions of a chunk whose every row and cell tag starts ``<row r=`` / ``<c r=``."""
    if b":c " in chunk or b":row " in chunk or b":c>" in chunk:  # tags with a prefix
        return False
    cells = _FAST_CELL.findall(chunk)
    rows = _FAST_ROW.findall(chunk)
    tags = sum(chunk.count(tag) for tag in (b"<c ", b"<c>", b"<c/", b"<row ", b"<row>", b"<row/"))
    if tags != len(cells) + len(rows):
        return False
    if rows:
        extent.last_row = max(extent.last_row, *(int(number) for number in rows))
        extent.row_number = int(rows[-1])
    if cells:
        letters = max({letters for letters, _ in cells}, key=lambda text: (len(text), text))
        extent.last_column = max(extent.last_column, _column_number(letters))
        extent.column_number = _column_number(cells[-1][0])
        extent.last_row = max(extent.last_row, int(cells[-1][1]))
    extent.cells += len(cells)
    extent.row_elements += len(rows)
    return True


def _scan_tags(chunk: bytes, extent: _SheetExtent) -> None:
    """Positions of a chunk tag by tag, following cells and rows that do not state theirs."""
    for name, attributes in _ANY_TAG.findall(chunk):
        position = _POSITION.search(attributes)
        if name == b"row":
            extent.row_elements += 1
            extent.row_number = (
                int(position.group(2)) if position and position.group(2) else extent.row_number + 1
            )
            extent.column_number = 0
            extent.last_row = max(extent.last_row, extent.row_number)
            continue
        extent.cells += 1
        if position and position.group(1):
            extent.column_number = _column_number(position.group(1))
            if position.group(2):
                extent.row_number = max(extent.row_number, int(position.group(2)))
                extent.last_row = max(extent.last_row, extent.row_number)
        else:
            extent.column_number += 1
        extent.last_column = max(extent.last_column, extent.column_number)


def _stream_part(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, limits: ResolvedLimits, *, source: str
) -> int:
    """Decompress one member as a stream and return its real size (XML: text runs, cells checked)."""
    name = info.filename
    is_xml = name.endswith((".xml", ".rels"))
    is_sheet = name.startswith("xl/worksheets/") and name.endswith(".xml")
    extent = _SheetExtent() if is_sheet else None
    bound = limits.max_part_mb * MB
    total = 0
    tail = b""
    open_run = 0
    with archive.open(info) as stream:
        while block := stream.read(_CHUNK):
            total += len(block)
            if total > bound:
                found = f"more than {limits.max_part_mb:,g} MB once decompressed"
                raise over(
                    source, f"workbook part {name}", found, "max_part_mb", limits.max_part_mb
                )
            if not is_xml:
                continue
            longest, _, open_run = longest_run(block, b"<", open_run=open_run)
            chunk = tail + block
            if longest > limits.max_cell_chars:
                found = f"a text of more than {limits.max_cell_chars:,} characters"
                raise over(
                    source, f"workbook part {name}", found, "max_cell_chars", limits.max_cell_chars
                )
            cut = chunk.rfind(b"<")
            whole, tail = (chunk[:cut], chunk[cut:]) if cut > 0 else (chunk, b"")
            if extent is not None:
                if not _scan_fast(whole, extent):
                    _scan_tags(whole, extent)
                _check_sheet_part(extent, limits, source=source, part=name)
    if extent is not None and tail:
        _scan_tags(tail, extent)
        _check_sheet_part(extent, limits, source=source, part=name)
    return total


def _check_sheet_part(
    extent: _SheetExtent, limits: ResolvedLimits, *, source: str, part: str
) -> None:
    rows = max(extent.last_row, extent.row_elements)
    where = f"sheet part {part}"
    check_extent(rows, extent.last_column, limits, source=source, where=where, n_cells=extent.cells)


def check_extent(
    n_rows: int,
    n_columns: int,
    limits: ResolvedLimits,
    *,
    source: str,
    where: str,
    n_cells: int = 0,
) -> None:
    """Check a sheet's rows, columns and cells (as its file declares them) before it is read."""
    if n_rows > limits.max_rows:
        raise over(source, where, f"reaches row {n_rows:,}", "max_rows", limits.max_rows)
    if n_columns > limits.max_columns:
        found = f"reaches column {n_columns:,}"
        raise over(source, where, found, "max_columns", limits.max_columns)
    area = n_rows * n_columns
    if max(area, n_cells) > limits.max_cells:
        found = f"spans {n_rows:,} rows by {n_columns:,} columns ({area:,} cells)"
        raise over(source, where, found, "max_cells", limits.max_cells)


def check_workbook(path: Path, limits: ResolvedLimits, *, source: str | None = None) -> None:
    """Check an ``.xlsx`` workbook before a parser opens it.

    Every member of the zip is decompressed as a stream (never held whole): its real size is
    bounded by ``max_part_mb`` whatever its header claims (all of them together by twice that),
    every XML text run by
    ``max_cell_chars``, and each sheet's cell positions by ``max_rows``, ``max_columns`` and
    ``max_cells``.

    Parameters
    ----------
    path
        The workbook.
    limits
        The bounds (resolved).
    source
        The file's name in messages (default: the path's; an upload's own name).

    Raises
    ------
    TooLargeError
        Past a bound, naming the file, the bound and its option.
    InputError
        If the file is not a zip archive (not a workbook).
    """
    source = source or path.name
    check_file_size(path, limits, source=source)
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            if len(members) > 10_000:
                msg = f"{source}: not a readable Excel workbook ({len(members):,} zip members)"
                raise InputError(msg)
            unpacked = 0
            for info in members:
                if not info.is_dir():
                    unpacked += _stream_part(archive, info, limits, source=source)
                if unpacked > 2 * limits.max_part_mb * MB:  # many parts, each within the bound
                    found = f"more than {2 * limits.max_part_mb:,g} MB once decompressed"
                    raise over(source, "all parts", found, "max_part_mb", limits.max_part_mb)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError) as error:
        if isinstance(error, InputError):
            raise
        msg = f"{source}: not a readable Excel workbook ({error})"
        raise InputError(msg) from error
    except NotImplementedError as error:  # a compression method zipfile lacks
        msg = f"{source}: not a readable Excel workbook ({error})"
        raise InputError(msg) from error
