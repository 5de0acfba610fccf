"""What a reader did with a planner's file, for the log, ``summary.json`` and the web workspace.

A reader never drops or changes a row without saying so: which sheet and header row it took,
which column became which field, which rows it skipped and why (blank, a 合计 total, a 注 note),
which numbers were approximate or missing, which rows repeat another, which stations have no
coordinates. :class:`Reading` holds it all, attached to the :class:`~quarterhour.geo.points.PointSet`
as ``points.reading``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

MAX_NAMED = 20
"""How many rows a warning names before it says how many more there are."""

SKIP_REASONS: dict[str, str] = {
    "blank": "blank rows",
    "total": "total rows (合计/总计/小计)",
    "note": "notes under the table (注/备注/说明)",
}
"""Why a row of a table is not a point, and how the log says it."""

MISSING_WEIGHT_RULE = (
    "kept as communities with weight 0: each is planned (covered or not) and counted in the "
    "communities, and adds no residents to the figures"
)
"""How a plan treats a community whose weight cell says nothing (blank, -, 待核实)."""


PICKER_ADVICE = (
    "look each address up in AMap's coordinate picker (https://lbs.amap.com/tools/picker, "
    "GCJ-02) and add its 经度/纬度"
)
"""What to do about a station known by its address only."""


@dataclass(frozen=True)
class SkippedRow:
    """A row of the table that is not a point: its row number, why, and its first text."""

    row: int
    reason: str
    text: str


@dataclass(frozen=True)
class Unlocated:
    """A row without coordinates (an existing station known by its address only)."""

    row: int
    id: str
    name: str
    address: str


@dataclass(frozen=True)
class Duplicate:
    """A row that repeats an earlier one (same name and coordinates)."""

    row: int
    first_row: int
    name: str
    dropped: bool


@dataclass(frozen=True)
class Reading:
    """How a file was read: what was taken, skipped, flagged (JSON-ready with ``to_dict``).

    Attributes
    ----------
    source
        The file's name.
    role
        What the points are (``communities``, ``existing stations`` ...).
    sheet
        The sheet read, for a workbook; ``sheet_reason`` says why that one.
    header_rows
        The row numbers (as the sheet shows them) of the header: one, or two for a header of
        two rows (坐标 over 经度 / 纬度); ``header_reason`` says how it was found.
    encoding
        The text encoding of a CSV file.
    other_encoding_rows
        Lines of a UTF-8 CSV file that were not UTF-8 and were read as GB18030 (a row pasted
        from a GBK file).
    columns
        Which column became which field.
    rows
        Rows taken as points.
    skipped
        Rows that are not points (blank, totals, notes).
    approximate
        Rows whose weight was marked approximate (约9676).
    missing_weight
        Rows whose weight cell says nothing; see ``MISSING_WEIGHT_RULE``.
    duplicates
        Rows that repeat an earlier row's name and coordinates.
    unlocated
        Rows without coordinates, set aside (existing stations known by address only).
    pair_order
        ``"lon,lat"`` or ``"lat,lon"``: the order of a column holding both coordinates.
    notes
        Other things the reader decided (a coordinate pair's order, merged cells filled).
    """

    source: str
    role: str = "points"
    sheet: str | None = None
    sheet_reason: str = ""
    header_rows: tuple[int, ...] = ()
    header_reason: str = ""
    encoding: str | None = None
    other_encoding_rows: tuple[int, ...] = ()
    columns: dict[str, str] = field(default_factory=dict)
    rows: int = 0
    skipped: tuple[SkippedRow, ...] = ()
    approximate: tuple[int, ...] = ()
    missing_weight: tuple[int, ...] = ()
    duplicates: tuple[Duplicate, ...] = ()
    unlocated: tuple[Unlocated, ...] = ()
    pair_order: str | None = None
    notes: tuple[str, ...] = ()

    def skipped_counts(self) -> dict[str, int]:
        """How many rows were skipped for each reason (every reason, zero included)."""
        return {
            reason: sum(row.reason == reason for row in self.skipped) for reason in SKIP_REASONS
        }

    def warnings(self, *, unlocated: bool = True) -> list[str]:
        """One line per thing a planner should check, naming rows, stations and communities.

        Parameters
        ----------
        unlocated
            Whether to include the rows without coordinates (a plan warns of those stations
            with the others that cover nothing).
        """
        lines = []
        where = f"{self.source}"
        if self.other_encoding_rows:
            lines.append(
                f"{where}: {_rows(self.other_encoding_rows, 'line')} are not UTF-8 like the rest "
                "of the file and were read as GBK/GB18030: check their names"
            )
        if self.approximate:
            lines.append(
                f"{where}: {_rows(self.approximate)}: the weight is approximate (约 ...), read "
                "as the number given"
            )
        if self.missing_weight:
            lines.append(
                f"{where}: {_rows(self.missing_weight)}: no weight (blank, - or 待核实): "
                f"{MISSING_WEIGHT_RULE}"
            )
        for duplicate in self.duplicates[:MAX_NAMED]:
            fate = "dropped (--dedupe)" if duplicate.dropped else "kept: counted twice"
            lines.append(
                f"{where}: row {duplicate.row} repeats row {duplicate.first_row} "
                f"({duplicate.name!r}, same name and coordinates): {fate}"
            )
        if len(self.duplicates) > MAX_NAMED:
            lines.append(f"{where}: and {len(self.duplicates) - MAX_NAMED} more repeated rows")
        if unlocated:
            lines.extend(self.unlocated_warnings())
        return lines

    def unlocated_warnings(self) -> list[str]:
        """The line naming the rows set aside without coordinates, by name and address."""
        if not self.unlocated:
            return []
        named = "; ".join(
            f"{item.name or item.id} ({item.address or 'no address'}, row {item.row})"
            for item in self.unlocated[:MAX_NAMED]
        )
        more = len(self.unlocated) - MAX_NAMED
        return [
            f"{self.source}: {len(self.unlocated):,} {self.role} have no coordinates and cover "
            f"nothing (kept with status no_coordinates): {named}"
            + (f" and {more} more" if more > 0 else "")
            + f"; {PICKER_ADVICE}"
        ]

    def to_dict(self) -> dict[str, object]:
        """The reading as JSON-ready values, with ``skipped_counts`` and the warnings."""
        values = asdict(self)
        values["skipped_counts"] = self.skipped_counts()
        values["missing_weight_rule"] = MISSING_WEIGHT_RULE if self.missing_weight else None
        return values

    def describe(self) -> str:
        """The log line of where the table was found and what was skipped."""
        parts = []
        if self.sheet is not None:
            parts.append(f"sheet {self.sheet!r} ({self.sheet_reason})")
        if self.header_rows:
            header = " and ".join(str(row) for row in self.header_rows)
            plural = "s" if len(self.header_rows) > 1 else ""
            parts.append(f"header on row{plural} {header} ({self.header_reason})")
        if self.encoding:
            parts.append(f"encoding {self.encoding}")
        counts = {reason: count for reason, count in self.skipped_counts().items() if count}
        for reason, count in counts.items():
            rows = tuple(row.row for row in self.skipped if row.reason == reason)
            parts.append(f"skipped {count:,} {SKIP_REASONS[reason]}: {_rows(rows)}")
        if self.unlocated:
            rows = tuple(item.row for item in self.unlocated)
            parts.append(f"set aside {len(rows):,} without coordinates: {_rows(rows)}")
        parts.extend(self.notes)
        return f"{self.source}: " + "; ".join(parts) if parts else ""


def _rows(rows: tuple[int, ...], word: str = "row") -> str:
    listed = ", ".join(str(row) for row in rows[:MAX_NAMED])
    more = f" and {len(rows) - MAX_NAMED:,} more" if len(rows) > MAX_NAMED else ""
    return f"{word}{'s' if len(rows) > 1 else ''} {listed}{more}"
