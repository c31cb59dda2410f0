"""Write the backprop-ninja problems (Karpathy, makemore part 4) with deterministic numbers.

Every parameter is a small fraction from a fixed formula, so the files are reproducible
and exact: ``python tools/make_ninja.py`` rewrites problems/backprop_ninja_*.yaml.
"""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

STEPS = """\
  - emb = C[Xb]                                 # {n} × {block} × {emb}
  - embcat = emb.view({n}, -1)                   # {n} × {flat}
  - hprebn = embcat @ W1 + b1
  - bnmeani = 1/{n} * hprebn.sum(0, keepdims=True)
  - bndiff = hprebn - bnmeani
  - bndiff2 = bndiff**2
  - bnvar = 1/({n}-1) * bndiff2.sum(0, keepdims=True)   # Bessel's correction, n - 1
  - bnvar_inv = (bnvar + 1e-5)**-0.5
  - bnraw = bndiff * bnvar_inv
  - hpreact = bngain * bnraw + bnbias
  - h = tanh(hpreact)
  - logits = h @ W2 + b2
  - logit_maxes = logits.max(1, keepdims=True)
  - norm_logits = logits - logit_maxes
  - counts = exp(norm_logits)
  - counts_sum = counts.sum(1, keepdims=True)
  - counts_sum_inv = counts_sum**-1
  - probs = counts * counts_sum_inv
  - logprobs = log(probs)
  - loss = -logprobs[arange({n}), Yb].mean()
"""


def value(i: int, j: int, a: int, b: int, m: int, scale: int) -> str:
    """A small fraction, deterministic: ((a·i + b·j) mod m − m//2) / scale."""
    q = Fraction((a * i + b * j) % m - m // 2, scale)
    return str(q.numerator) if q.denominator == 1 else f'"{q}"'


def matrix(rows: int, cols: int, a: int, b: int, m: int, scale: int) -> str:
    return "[" + ", ".join("[" + ", ".join(value(i, j, a, b, m, scale) for j in range(cols))
                           + "]" for i in range(rows)) + "]"


def problem(title: str, n: int, block: int, emb: int, hidden: int, vocab: int) -> str:
    flat = block * emb
    xb = "[" + ", ".join("[" + ", ".join(str((7 * i + 3 * j + 1) % vocab)
                                         for j in range(block)) + "]" for i in range(n)) + "]"
    yb = "[" + ", ".join(str((7 * i + 2) % vocab) for i in range(n)) + "]"
    lines = [
        f"title: \"{title}\"",
        "source: Karpathy, makemore part 4 (becoming a backprop ninja), exercise 1",
        "values:",
        f"  Xb: {xb}",
        f"  Yb: {yb}",
        f"  C: {matrix(vocab, emb, 3, 5, 9, 10)}",
        f"  W1: {matrix(flat, hidden, 5, 3, 11, 20)}",
        f"  b1: [{', '.join(value(0, j, 0, 3, 7, 20) for j in range(hidden))}]",
        f"  bngain: [[{', '.join(str(1 + Fraction((2 * j) % 5 - 2, 10)) for j in range(hidden))}]]",
        f"  bnbias: [[{', '.join(value(2, j, 0, 3, 5, 20) for j in range(hidden))}]]",
        f"  W2: {matrix(hidden, vocab, 2, 7, 9, 10)}",
        f"  b2: [{', '.join(value(0, j, 0, 5, 7, 10) for j in range(vocab))}]",
        "steps:",
        STEPS.format(n=n, block=block, emb=emb, flat=flat).rstrip(),
        "output: loss",
        "",
    ]
    text = "\n".join(lines)
    return text.replace('"1"', "1")


if __name__ == "__main__":
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "problems")
    (root / "backprop_ninja_small.yaml").write_text(problem(
        "Backprop ninja, hand-sized: batch 4, block 2, embedding 2, hidden 3, vocabulary 5",
        4, 2, 2, 3, 5))
    (root / "backprop_ninja_lecture.yaml").write_text(problem(
        "Backprop ninja at the lecture's size: batch 32, block 3, embedding 10, hidden 64, "
        "vocabulary 27 (solved, not hand-worked)", 32, 3, 10, 64, 27))
