"""The fast reader for plain answer sheets (literals._read_plain) gives exactly the
Document the general reader (libyaml's events through _EventBuilder) gives -- same data
with the same types, same marks, same texts, in the same order -- whenever it accepts a
text, and declines everything else (the general reader then reads it, errors included).

Checked on every YAML file in the repository, on generated class sheets, on hand-picked
tricky lines, and on hypothesis mutations of sheets (hostile students)."""

from __future__ import annotations

import os
import sys
import tempfile
from fractions import Fraction
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backcheck import literals
from backcheck.errors import BackcheckError
from backcheck.literals import MAX_DEPTH, MAX_NODES, check_text, parse_yaml

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = int(os.environ.get("BACKCHECK_FUZZ_EXAMPLES", "60"))


def _same(a: object, b: object) -> bool:
    """Equal and of the same types all the way down (1 == Fraction(1) == True is not
    enough), dict keys in the same order."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return (list(a) == list(b)  # type: ignore[arg-type]
                and all(_same(a[k], b[k]) for k in a))  # type: ignore[index]
    if isinstance(a, list):
        return len(a) == len(b) and all(  # type: ignore[arg-type]
            _same(x, y) for x, y in zip(a, b, strict=True))  # type: ignore[call-overload]
    return a == b


def _slow(text: str) -> literals.Document:
    return literals._read_events(yaml, text, "f.yaml")


def check_agrees(text: str) -> bool:
    """Both readers on ``text``; True when the fast one accepted (and agreed)."""
    try:
        check_text(text, "f.yaml")
    except BackcheckError:
        return False  # refused before either reader sees it
    fast = literals._read_plain(text, "f.yaml")
    if fast is None:
        return False
    slow = _slow(text)  # the general reader must accept it too: no error
    assert _same(fast.data, slow.data), text
    assert list(fast.marks.items()) == list(slow.marks.items()), text
    assert list(fast.texts.items()) == list(slow.texts.items()), text
    return True


def _yaml_files() -> list[Path]:
    return sorted(p for folder in ("problems", "tests", "examples", "docs", "bench")
                  if (ROOT / folder).is_dir()
                  for p in (ROOT / folder).rglob("*.y*ml"))


def test_every_yaml_file_in_the_repository_reads_the_same() -> None:
    files = _yaml_files()
    assert len(files) > 100
    accepted = 0
    for path in files:
        try:
            text = path.read_bytes().decode("utf-8-sig")
        except UnicodeDecodeError:
            continue
        accepted += check_agrees(text)
    assert accepted >= 20  # the curated answers files are plain sheets


def test_generated_class_sheets_take_the_fast_path_and_read_the_same() -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        from bench_verify import make_sheets
    finally:
        sys.path.remove(str(ROOT / "bench"))
    with tempfile.TemporaryDirectory() as folder:
        for name in ("ai_by_hand_3layer.yaml", "softmax_ce.yaml"):
            problem = ROOT / "problems" / name
            if not problem.exists():
                continue
            for path in make_sheets(problem.resolve(), Path(folder), 30):
                assert check_agrees(path.read_text()), path


TRICKY = [
    "problem: p.yaml\nanswers:\n  z1: [1, 2]\n",
    "problem: p.yaml   # the problem\nanswers:   # mine\n  # first\n\n  z1: [1, 2]  # c\n",
    "answers:\n  z1: [1, 2]\n# between\n  z2: 3\n",
    "answers:\n    z1: [[1, -0.5], [ 2 ,3 ], []]\nstudent: s1\n",
    "answers:\n  z1: [~, null, yes, No, on, x, -, .5, 1., +1, -0, 00, 0x1F, 1_000, 1e3]\n",
    "answers:\n  z1: [.inf, -.Inf, .nan]\n",
    "answers:\n  z1: [1e400, 1e-400, 12345678901234567890123456789012345678901234567890123]\n",
    "student: 2001-01-01\ntitle: 2001-01-01 10.00\nanswers:\n  a: 1\n",
    "student: yes\ntitle: ~\nnotes: a, b (c) = d\nanswers:\n  L: -.25\n",
    "student: 12\nanswers:\n  L: 0o17\n",
    "answers:\n  dL/dW1[1,2]: 0.5\n  a,b[: 3\n  z_1+: 4\n",
    "answers:\n  z1: 1\n  z1: 2\n",
    "answers:\n  z1: 1\nanswers:\n  z2: 2\n",
    "answers:\n  z1:\n  z2: 2\n",
    "answers:\n  z1: [1, 2,]\n",
    "answers:\n  z1: [1, 2]]\n",
    "answers:\n  z1: [1, [2]\n",
    "answers:\n  z1: [1, 2] x\n",
    "answers:\n  z1: [1, 2]#x\n",
    "answers:\n  z1: [1\n    , 2]\n",
    "answers:\n  z1: 1\n   z2: 2\n",
    "answers:\n  z1: 1\n z2: 2\n",
    "answers:\n  z1: 1\n    2\n",
    "title: a\n  b\nanswers:\n  z1: 1\n",
    "answers:\n- 1\n",
    "answers:\n  - 1\n",
    "answers:\n  z1: - 1\n",
    "answers:\n  z1: -\n",
    "answers: [1, 2]\nproblem: p\n",
    "answers:\n",
    "answers:\nproblem: p\n",
    "answers: # c\nproblem: p\n",
    "---\nanswers:\n  z1: 1\n",
    "answers:\n  z1: 1\n...\n",
    "answers:\n  z1: 1\n---\nanswers:\n  z1: 1\n",
    "answers:\n  <<: 1\n  =: 2\n",
    "yes: 1\nnull: 2\n1: 3\n~: 4\n",
    "answers:\n  z1: &a [1]\n  z2: *a\n",
    "answers:\n  z1: !!str 1\n",
    "answers:\n  z1: '1'\n",
    "answers:\n  z1: {value: 1}\n",
    "answers:\n  z1: a: b\n",
    "answers:\n  z1: a #b\n",
    "answers:\n  z1: a#b\n",
    "answers :\n  z1: 1\n",
    "  answers:\n    z1: 1\n",
    "%YAML 1.1\n---\nanswers:\n  z1: 1\n",
    "answers:\n  z1: 1\n\n\n   \n",
    "answers:\n  z1: 1",
    "answers:\n\tz1: 1\n",
    "answers:\r\n  z1: 1\r\n",
    "student: José\nanswers:\n  z1: 1\n",
]


@pytest.mark.parametrize("text", TRICKY)
def test_tricky_texts_read_the_same_or_go_to_the_general_reader(text: str) -> None:
    check_agrees(text)


def test_the_common_shapes_are_accepted() -> None:
    """The fast path is really taken for the sheets students write (else it is useless)."""
    for text in TRICKY[:4] + TRICKY[7:11]:
        assert literals._read_plain(text, "f.yaml") is not None, text


def test_limits_still_hold_on_plain_sheets(monkeypatch: pytest.MonkeyPatch) -> None:
    """A plain-looking sheet over MAX_NODES or MAX_DEPTH gets the general reader's error
    (the values limit lowered to 40 here, so that the test is quick: both readers read it
    from the module)."""
    assert MAX_NODES == 200_000
    monkeypatch.setattr(literals, "MAX_NODES", 40)
    # the top mapping, answers and the list are 3 values: 37 numbers make 40 (the limit)
    flat = ["[" + sep.join(["1"] * count) + "]" for sep in (", ", ",") for count in (37, 38)]
    # rows: each row is one value more; 11 rows of two and one of three or four: 40 or 41
    rows = ["[" + sep.join([f"[1{sep}1]"] * 11 + ["[" + sep.join(["1"] * last) + "]"]) + "]"
            for sep in (", ", ",") for last in (3, 4)]
    for index, written in enumerate(flat + rows):
        text = "answers:\n  z: " + written + "\n"
        if index % 2 == 0:
            assert check_agrees(text), text
            continue
        assert literals._read_plain(text, "f.yaml") is None
        with pytest.raises(BackcheckError, match="too many values"):
            parse_yaml(text, "f.yaml")
    # the answers mapping is level 1, the list 2: the number in the innermost is level 32
    deep = "answers:\n  z: " + "[" * (MAX_DEPTH - 2) + "1" + "]" * (MAX_DEPTH - 2) + "\n"
    assert check_agrees(deep)
    deeper = "answers:\n  z: " + "[" * (MAX_DEPTH - 1) + "1" + "]" * (MAX_DEPTH - 1) + "\n"
    assert literals._read_plain(deeper, "f.yaml") is None
    with pytest.raises(BackcheckError, match="nested too deeply"):
        parse_yaml(deeper, "f.yaml")
    for text in ("answers:\n  z: 1\x00\n", "answers:\n  z: 1\x01\n"):
        with pytest.raises(BackcheckError):
            parse_yaml(text, "f.yaml")


def test_numbers_are_exact_fractions() -> None:
    doc = parse_yaml("answers:\n  z: [0.1, -2.50, 3]\n", "f.yaml")
    assert doc.data["answers"]["z"] == [Fraction(1, 10), Fraction(-5, 2), Fraction(3)]
    assert doc.texts[("answers", "z", 1)] == "-2.50"


BASE = [
    "problem: ../p.yaml\nstudent: s0001\nanswers:\n  z1: [1.0000, -1.0000, 2.0000]\n"
    "  L: 0.407606\n  dL/dW3: [[0.489, 0, 0.245], [-0.670, 0, -0.335]]\n"
    "  b1_new: [0.992, 0, -0.988]\n",
    "# sheet\nproblem: p.yaml  # p\ntitle: Homework 3, part (a)\nanswers:\n\n"
    "    z1: [1, ~, 2]\n    dL/dz1[2]: -0.5\n# end\ntolerance: 0.01\n",
]
SNIPPETS = [": ", ":", " #", "#", "[", "]", ",", " ", "  ", "\n", "\n  ", "\n    ", "-", "- ",
            "&a ", "*a", "!!str ", "!", "'", '"', "~", "yes", "null", ".inf", "1e5", "0x1F",
            "2001-01-01", "---\n", "...", "?", "? ", "{", "}", "|", ">", "%", "@", "=", "<<",
            "\t", "\r", "é", "0", "1", ".", "+", "_", "/", "(", "z1", "answers:", "\x01",
            "\\", "`", "1:30", "a: b", "\n- ", "\n  z9: 1"]


@st.composite
def mutated_sheet(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(BASE))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        action = draw(st.integers(0, 3))
        if action == 0:
            text = text[:at] + draw(st.sampled_from(SNIPPETS)) + text[at:]
        elif action == 1:
            text = text[:at] + text[at + draw(st.integers(1, 6)):]
        elif action == 2:
            text = text[:at] + draw(st.text(" -:#[],.0123456789az~\n", max_size=4)) + text[at:]
        else:
            lines = text.split("\n")
            i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
            text = "\n".join(lines)
    return text


@settings(max_examples=20 * EXAMPLES, deadline=None, database=None,
          derandomize="BACKCHECK_FUZZ_EXAMPLES" not in os.environ,
          suppress_health_check=[HealthCheck.too_slow])
@given(mutated_sheet())
def test_mutated_sheets_read_the_same_whenever_the_fast_path_accepts(text: str) -> None:
    check_agrees(text)


NUMBER_WORDS = st.from_regex(r"[+-]?(0|[1-9][0-9]{0,3})(\.[0-9]{0,6})?|[+-]?\.[0-9]{1,4}"
                             r"|~|null|yes|x|1e-3|0x1F|1_000|00|\.inf|1\.2\.3|-\.", fullmatch=True)


@st.composite
def plain_sheet(draw: st.DrawFn) -> str:
    """A sheet in (or at the edge of) the plain subset: flow lists nested 0-3 deep of
    number words, with varied spacing, comments and keys."""
    def value(depth: int) -> str:
        if depth == 0 or draw(st.integers(0, 3)) == 0:
            return draw(NUMBER_WORDS)
        items = [value(depth - 1) for _ in range(draw(st.integers(0, 4)))]
        sep = draw(st.sampled_from([", ", ",", " , ", ",  "]))
        pad = draw(st.sampled_from(["", " "]))
        return "[" + pad + sep.join(items) + pad + "]"

    keys = draw(st.lists(st.from_regex(r"[a-zA-Z][a-zA-Z0-9_/]{0,6}(\[[1-3](,[1-3])?\])?",
                                       fullmatch=True), min_size=1, max_size=5))
    indent = " " * draw(st.integers(1, 4))
    lines = [f"problem: {draw(st.sampled_from(['p.yaml', '../x/p.yaml', 'p']))}",
             f"student: {draw(st.sampled_from(['s1', '12', 'Ann Lee', '2001-01-01', '~']))}",
             "answers:" + draw(st.sampled_from(["", "  ", "  # mine"]))]
    for key in keys:
        comment = draw(st.sampled_from(["", "  # c", " #", "   "]))
        lines.append(f"{indent}{key}: {value(3)}{comment}")
        if draw(st.booleans()):
            lines.append(draw(st.sampled_from(["", "# x", indent + "# y", "   "])))
    return "\n".join(lines) + draw(st.sampled_from(["\n", "", "\n\n"]))


@settings(max_examples=3 * EXAMPLES, deadline=None, database=None,
          derandomize="BACKCHECK_FUZZ_EXAMPLES" not in os.environ,
          suppress_health_check=[HealthCheck.too_slow])
@given(plain_sheet())
def test_generated_plain_sheets_read_the_same(text: str) -> None:
    check_agrees(text)
