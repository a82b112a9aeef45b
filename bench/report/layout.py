"""Lay out a wide table as one or more rich tables that fit a given width.

Columns come in *groups* that stay together (e.g. ΔSR, ΔHR and gap closure of one backend);
groups are packed in order into as many tables as needed, each repeating the index column,
so at 80 columns nothing is cut to `…` and no column is dropped. The title is printed
once, above the parts. Headers may span two lines
("ΔSR" over "edsr"): the width of a header is its longest line. A single group wider than
the width gets a table of its own; its cells fold rather than truncate.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from rich import box
from rich.table import Table

# A rich Table with the default box and padding (0, 1): 1 character for the left edge, then
# per column its width + 2 of padding + 1 of border.
_EDGE, _PER_COLUMN = 1, 3


@dataclass
class Column:
    header: str
    cells: list[str]
    justify: str = "right"

    @property
    def width(self) -> int:
        return max([len(line) for line in self.header.splitlines() or [""]]
                   + [len(c) for c in self.cells])


@dataclass
class Layout:
    index: Column
    groups: list[list[Column]]
    sections_after: set[int] = field(default_factory=set)  # row numbers ending a section

    def chunks(self, width: int) -> list[list[Column]]:
        chunks: list[list[Column]] = []
        used = _EDGE + self.index.width + _PER_COLUMN
        current: list[Column] = []
        for group in self.groups:
            need = sum(c.width + _PER_COLUMN for c in group)
            if current and used + need > width:
                chunks.append(current)
                current, used = [], _EDGE + self.index.width + _PER_COLUMN
            current += group
            used += need
        if current:
            chunks.append(current)
        return chunks

    def tables(self, title: str, width: int) -> list:
        """The title (a line of its own, wrapped at `width`, not at a narrow table's width),
        then one table per chunk."""
        from rich.text import Text

        chunks = self.chunks(width)
        out: list = [Text(title, style="bold")]
        for chunk in chunks:
            t = Table(box=box.HEAVY_HEAD)
            t.add_column(self.index.header, no_wrap=True)
            for col in chunk:
                t.add_column(col.header, justify=col.justify, overflow="fold")
            for r, name in enumerate(self.index.cells):
                t.add_row(name, *(c.cells[r] for c in chunk), end_section=r in self.sections_after)
            out.append(t)
        return out


def natural_width(columns: Sequence[Column]) -> int:
    """Characters a one-table layout of `columns` needs (index column included)."""
    return _EDGE + sum(c.width + _PER_COLUMN for c in columns)
