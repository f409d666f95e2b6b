"""Tables the CLI prints, readable at the console's width (80 columns when stdout is not a
terminal, rich's default; a terminal's own width otherwise; ``COLUMNS`` overrides both).

A cell is wrapped only at spaces, never inside a word, so a name (``temporal-order``,
``neuromod-rnn``, a run directory) is always printed whole: each column is at least as wide as
its longest word. When even those widths do not fit, the table is printed as records instead,
one row at a time as ``column: value`` lines.
"""

from __future__ import annotations

from collections.abc import Sequence


def console():
    """The rich console for stdout (its width: the terminal's, else ``COLUMNS``, else 80)."""
    from rich.console import Console

    return Console(highlight=False)


def longest_word(text: str) -> int:
    return max((len(word) for word in str(text).split()), default=0)


def min_widths(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> list[int]:
    """Per column, the width of its longest word (header included)."""
    return [max(longest_word(text) for text in (col, *(row[j] for row in rows))) for j, col in enumerate(columns)]


def table_fits(columns: Sequence[str], rows: Sequence[Sequence[str]], width: int) -> bool:
    """Whether a rich table with these cells fits in ``width`` columns without breaking a word:
    each column is its longest word plus a space on either side, plus one border per column and
    one more."""
    return sum(min_widths(columns, rows)) + 3 * len(columns) + 1 <= width


def one_line_columns(columns: Sequence[str], rows: Sequence[Sequence[str]], width: int,
                     prefer: Sequence[str] = ()) -> set[int]:
    """The columns whose cells can stay on one line: those named in ``prefer`` first, then the
    others from the one that needs the fewest extra characters, as long as the table fits."""
    low = min_widths(columns, rows)
    whole = [max(len(text) for text in (col, *(row[j] for row in rows))) for j, col in enumerate(columns)]
    total = sum(low) + 3 * len(columns) + 1
    order = sorted(range(len(columns)), key=lambda j: (columns[j] not in prefer, whole[j] - low[j]))
    chosen = set()
    for j in order:
        if total + whole[j] - low[j] <= width:
            total += whole[j] - low[j]
            chosen.add(j)
    return chosen


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]], out=None,
                no_wrap: Sequence[str] = ()) -> None:
    """Print a table of plain-text cells (markup is not read) on ``out`` (default ``console()``).
    Columns named in ``no_wrap`` keep each cell on one line when the table fits that way."""
    from rich.table import Table
    from rich.text import Text

    out = console() if out is None else out
    rows = [[str(cell) for cell in row] for row in rows]
    if not table_fits(columns, rows, out.width):
        print_records(title, columns, rows, out)
        return
    one_line = one_line_columns(columns, rows, out.width, no_wrap)
    widths = min_widths(columns, rows)
    table = Table(title=title)
    for j, col in enumerate(columns):
        whole = max(len(text) for text in (col, *(row[j] for row in rows)))
        table.add_column(col, min_width=whole if j in one_line else widths[j], no_wrap=j in one_line,
                         overflow="fold")
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))
    out.print(table)


def print_wrapped(text: str, out=None, indent: int = 0, hang: int = 2) -> None:
    """``text`` wrapped at spaces only (never inside a word, nor at a hyphen) to the console's
    width, the first line indented by ``indent`` spaces and the others by ``indent + hang``."""
    import textwrap

    out = console() if out is None else out
    lines = textwrap.wrap(text, width=out.width, initial_indent=" " * indent, subsequent_indent=" " * (indent + hang),
                          break_long_words=False, break_on_hyphens=False)
    for line in lines or [""]:
        out.out(line, highlight=False)  # as it is: a word longer than the width stays whole


def print_records(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]], out=None) -> None:
    """The table as records: the title, then per row its first cell and ``column: value`` lines."""
    out = console() if out is None else out
    print_wrapped(title, out)
    for row in rows:
        print_wrapped(f"{columns[0]}: {row[0]}", out)
        for col, cell in zip(columns[1:], row[1:], strict=True):
            if cell:
                print_wrapped(f"{col}: {cell}", out, indent=4)
