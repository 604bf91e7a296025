"""Small tables for the chapters, rendered as Markdown (no pandas needed)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from IPython.display import Markdown


def _cell(value, digits: int) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, (tuple, list)):
        return ", ".join(str(v) for v in value)
    return str(value)


def markdown_table(
    rows: Sequence[Mapping], columns: Sequence[str] | None = None, digits: int = 3
) -> Markdown:
    """A Markdown table with one row per mapping; ints get thousands separators, floats ``digits``."""
    columns = list(columns or rows[0].keys())
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(row.get(c), digits) for c in columns) + " |" for row in rows]
    return Markdown("\n".join(lines))
