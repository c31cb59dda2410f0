"""The Jupyter display, checked the way a teacher would see it: a notebook run headless.

A small notebook imports backcheck, solves a curated problem, grades a sheet and a class,
and displays each; it runs in a real IPython kernel (nbclient), and the test reads the
outputs the notebook front end would render: a ``text/html`` table with the right values
and a short ``text/plain`` repr. The kernel is this interpreter (a kernelspec written to
a temporary directory), so a fresh CI virtual environment runs it without any Jupyter
set-up; nothing here is skipped when the kernel does not start.

Expected values come from Mazur's worked example ("A Step by Step Backpropagation
Example", 2015) and from how the curated sheets were written (each named by its slip).
"""

from __future__ import annotations

import json
import sys
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
PROBLEMS = ROOT / "problems"
SHEETS = PROBLEMS / "sheets"
KERNEL = "backcheck-test-python"


class Tables(HTMLParser):
    """The rows of every table (each a list of cell texts), every tag seen, all text."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.tables: list[list[list[str]]] = []
        self.text: list[str] = []
        self._cell: list[str] | None = None
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)

    def row(self, table: int, first: str) -> list[str]:
        """The row of table ``table`` whose first cell is ``first``."""
        found = [r for r in self.tables[table] if r and r[0] == first]
        assert len(found) == 1, (first, self.tables[table])
        return found[0]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    """Run the notebook once; for each cell, its one ``execute_result`` data bundle."""
    work = tmp_path_factory.mktemp("notebook")
    # Hostile names from files: a problem title, a student name and a folder name that are
    # markup. They must show as text, never as HTML.
    hostile = work / "a<b>&c"
    hostile.mkdir()
    text = (PROBLEMS / "single_neuron.yaml").read_text()
    (hostile / "net.yaml").write_text(text.replace(
        "\ntitle: ", '\ntitle: "<script>alert(1)</script> & co" #'))
    (hostile / "sheet.yaml").write_text(
        (SHEETS / "single_neuron/factor_two_missing.yaml").read_text()
        .replace("../../single_neuron.yaml", "net.yaml")
        .replace("student:", "student: '<img src=x onerror=alert(1)>' #"))
    cells = [
        "import backcheck\n"
        f"backcheck.solve(backcheck.load_problem({str(PROBLEMS / 'mazur_2_2_2.yaml')!r}))",
        f"backcheck.verify({str(SHEETS / 'mazur_2_2_2/net_for_out.yaml')!r})",
        "import glob\n"
        f"sheets = sorted(glob.glob({str(SHEETS / 'single_neuron')!r} + '/*.yaml'))\n"
        "backcheck.class_report(sheets, jobs=1)",
        f"backcheck.solve(backcheck.load_problem({str(hostile / 'net.yaml')!r}))",
        f"backcheck.verify({str(hostile / 'sheet.yaml')!r})",
        f"backcheck.class_report([{str(hostile / 'sheet.yaml')!r}, {str(work / 'none.yaml')!r}])",
    ]
    # A kernelspec for this interpreter, found through JUPYTER_PATH: the kernel is the
    # Python running the tests (with its packages), whatever kernels the machine has.
    spec = work / "jupyter" / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "backcheck tests", "language": "python",
        "env": {"PYTHONPATH": str(ROOT)}}))
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JUPYTER_PATH", str(work / "jupyter"))
        # connection files and IPython's profile in the temporary folder: nothing in HOME
        patch.setenv("JUPYTER_RUNTIME_DIR", str(work / "runtime"))
        patch.setenv("IPYTHONDIR", str(work / "ipython"))
        # Generous bounds against a hung kernel only; a loaded machine is slow, not wrong.
        NotebookClient(notebook, kernel_name=KERNEL, timeout=600, startup_timeout=300,
                       resources={"metadata": {"path": str(work)}}).execute()
    nbformat.validate(notebook)
    results = []
    for cell in notebook.cells:
        shown = [o for o in cell.outputs if o.output_type == "execute_result"]
        assert len(shown) == 1, cell.outputs
        results.append(shown[0]["data"])
    return results


def _short_repr(data: dict, start: str) -> str:
    plain = data["text/plain"]
    assert plain.startswith(start) and len(plain) < 200 and "\n" not in plain, plain
    return plain


def test_a_solution_shows_as_a_table_of_mazurs_values(outputs: list[dict]) -> None:
    data = outputs[0]
    assert "19 quantities, exact" in _short_repr(data, "<Solution Mazur")
    page = Tables(data["text/html"])
    assert len(page.tables) == 1 and len(page.tables[0]) == 20  # header + 19 quantities
    assert page.row(0, "z1") == ["z1", "2", "0.3775, 0.3925"]  # net_h1, net_h2: exact
    assert page.row(0, "a1")[2].startswith("0.593270…")  # out_h1 = 0.593269992
    assert page.row(0, "L") == ["L", "scalar", "0.298371…"]  # E_total = 0.298371109
    # ∂E_total/∂w5 = 0.082167041 (first entry of dL/dW2 in our layout)
    assert page.row(0, "dL/dW2")[1:] == ["2 × 2", page.row(0, "dL/dW2")[2]]
    assert page.row(0, "dL/dW2")[2].startswith("0.0821670…")


def test_a_graded_sheet_shows_verdicts_and_the_named_slip(outputs: list[dict]) -> None:
    data = outputs[1]
    assert "correct" in _short_repr(data, "<Report ")
    page = Tables(data["text/html"])
    header, *rows = page.tables[0]
    assert header == ["element", "exact", "yours", "verdict", "diagnosis"]
    assert len(rows) == 33  # every element the sheet answers (13 quantities)
    assert page.row(0, "z1[1]")[1:4] == ["0.3775", "0.3775", "✓ correct"]
    # The slip the sheet is written to show: ∂net_o1/∂w5 taken as net_h1, not out_h1.
    w5 = page.row(0, "dL/dW2[1,1]")
    assert w5[1].startswith("0.0821670") and w5[2] == "0.0523" and w5[3] == "✗ wrong"
    assert "[z-for-a]" in w5[4]


def test_a_class_report_shows_shares_and_mistake_codes(outputs: list[dict]) -> None:
    data = outputs[2]
    assert _short_repr(data, "<ClassStats 5 sheets: 2 all correct")  # right, honest_rounding
    page = Tables(data["text/html"])
    per_quantity, mistakes = page.tables
    assert per_quantity[0] == ["quantity", "right", "carried", "wrong", "missing", "entries"]
    assert page.row(0, "z1") == ["z1", "5 (100%)", "", "", "", "5"]
    # factor_two_missing.yaml drops the 2 of d(p − t)²/dp: dL/da1 wrong on one sheet of 5.
    assert page.row(0, "dL/da1")[3] == "1 (20%)"
    codes = {row[0]: row for row in mistakes[1:]}
    assert set(codes) == {"factor-two-missing", "derivative-at-activation",
                          "update-wrong-sign"}
    assert codes["factor-two-missing"][1:3] == ["1", "1"]
    assert "factor_two_missing.yaml: dL/da1[1]" in codes["factor-two-missing"][3]


def test_names_from_files_show_as_text_never_as_markup(outputs: list[dict]) -> None:
    solution, report, stats = outputs[3:]
    for data in (solution, report, stats):
        page = Tables(data["text/html"])
        assert set(page.tags) <= {"style", "div", "b", "table", "tr", "th", "td"}
    assert "<script>alert(1)</script> & co" in "".join(Tables(solution["text/html"]).text)
    shown = "".join(Tables(report["text/html"]).text)
    assert "a<b>&c/sheet.yaml" in shown and "<img src=x onerror=alert(1)>" in shown
    assert "<img" not in report["text/html"] and "<script" not in solution["text/html"]
    page = Tables(stats["text/html"])
    assert "a<b>&c/sheet.yaml: dL/da1[1]" in page.row(1, "factor-two-missing")[3]
    assert page.tables[2][0] == ["not graded", "why"] and len(page.tables[2]) == 2
    missing = page.tables[2][1]
    assert missing[0].endswith("/none.yaml") and missing[1].endswith("no such file")
