"""``verify``: grade hand-worked answers against the exact solution.

For a notebook::

    from backcheck import verify
    report = verify("problems/sheets/ai_by_hand_3layer/relu_not_zeroed.yaml")
    report.counts          # {'correct': 97, 'carried': 8, 'wrong': 1, 'missing': 0}
    report.first           # the entry to look at first: dL/dz1[2]
    for item in report.items: print(item.element, item.verdict, item.diagnosis)

The package, one job per module, in the order a sheet goes through it:

* :mod:`.grader`: :class:`Grader` (each distinct problem solved once) and :func:`verify`;
* :mod:`.context`: a problem prepared for grading (truth as quantities, buggy rules
  worked from the truth, the loss rules for a student's own numbers);
* :mod:`.sheet`: reading an answer sheet (names, tolerances, numbers, arrays, shapes);
* :mod:`.tolerance`: what agreement at a written precision means, decided exactly;
* :mod:`.verdicts`: correct / carried / wrong, with error carried forward;
* :mod:`.reach` and :mod:`.balls`: how far the rounding of written numbers reaches (the
  ball backend, its rules derived from the op records' vjps);
* :mod:`.carried`: which earlier answer a carried entry carries;
* :mod:`.diagnosis`: the known mistake (:mod:`backcheck.mistakes`) behind a wrong entry;
* :mod:`.report`: items, results, the report of a sheet and a class's exit code.

Speed: each distinct problem is solved once per :class:`Grader`, the buggy rules are
evaluated from the truth once per problem, and per-sheet evaluations only happen where a
sheet has entries that do not match the truth.
"""

from __future__ import annotations

from .context import LARGE_WORK, ProblemContext
from .grader import Grader, grade_sheet, verify
from .report import SYMBOLS, VERDICTS, Item, QuantityResult, Report, class_exit_code
from .sheet import Entry, flat_index, read_answers
from .tolerance import AUTO, Tolerance, agrees, parse_tolerance, within

__all__ = ["AUTO", "LARGE_WORK", "SYMBOLS", "VERDICTS", "Entry", "Grader", "Item",
           "ProblemContext", "QuantityResult", "Report", "Tolerance", "agrees",
           "class_exit_code", "flat_index", "grade_sheet", "parse_tolerance", "read_answers",
           "verify", "within"]
