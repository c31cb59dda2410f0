"""Arrays of numbers as aligned text (vectors, matrices, stacks, corners of large ones).

One number is written by :mod:`backcheck.numbers_text` (exact where short, ``…`` after
every rounded decimal), which core modules use too; this module lays many of them out.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..numbers_text import format_exact, format_value  # noqa: F401 - views import them here

#: with closed forms, a cell longer than this puts one element (or row) per line
LONG_CELL = 24


def _corners(n: int, limit: int | None) -> list[int | None]:
    """The positions shown along an axis of length ``n``: all of them, or (past
    ``limit``) the first and last ``limit // 2`` with ``None`` for the gap."""
    if limit is None or n <= limit:
        return list(range(n))
    half = max(limit // 2, 1)
    return [*range(half), None, *range(n - half, n)]


def is_elided(array: Any, limit: int | None) -> bool:
    """Would :func:`format_array` with ``limit`` show only the corners of ``array``?"""
    return limit is not None and any(n > limit for n in np.shape(array)[:2])


def format_array(array: Any, digits: int = 6, exact: bool = False,
                 limit: int | None = None) -> str:
    """A scalar, vector or matrix as aligned text in brackets (matrices on several lines).
    With ``limit``, a vector or matrix longer than that along an axis shows only its
    corners, ``⋯`` (and ``⋮``) standing for the rest (only the shown cells are formatted)."""
    array = np.asarray(array, dtype=object)
    if array.ndim == 0:
        return format_value(array.item(), digits, exact)

    def cell(v: Any) -> str:
        return format_value(v, digits, exact)

    if array.ndim == 1:
        cells = ["⋯" if i is None else cell(array[i]) for i in _corners(array.shape[0], limit)]
        if exact and any(len(c) > LONG_CELL for c in cells):
            return "[" + ",\n ".join(cells) + "]"  # long closed forms: one per line
        return "[" + "  ".join(cells) + "]"
    if array.ndim > 2:  # a stack of matrices (tensor problems), NumPy's layout
        blocks = ["⋮" if i is None else format_array(array[i], digits, exact, limit)
                  for i in _corners(array.shape[0], limit)]
        return "[" + "\n\n".join(block.replace("\n", "\n ") if k == 0 else
                                  " " + block.replace("\n", "\n ")
                                  for k, block in enumerate(blocks)) + "]"
    rows = _corners(array.shape[0], limit)
    cols = _corners(array.shape[1], limit)
    cells = [[("⋮" if i is None else "⋯") if i is None or j is None else cell(array[i, j])
              for j in cols] for i in rows]
    if exact and any(len(c) > LONG_CELL for row in cells for c in row):
        return "[" + ",\n ".join("[" + ", ".join(row) + "]" for row in cells) + "]"
    widths = [max(len(row[k]) for row in cells) for k in range(len(cols))]
    lines = []
    for i, row in enumerate(cells):
        body = "  ".join(c.rjust(w) for c, w in zip(row, widths))
        lines.append(("[[" if i == 0 else " [") + body + ("]]" if i == len(cells) - 1 else "]"))
    return "\n".join(lines)
