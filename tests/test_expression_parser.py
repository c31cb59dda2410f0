"""Tests for backcheck.expression: safe, exact parsing of scalar steps."""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import pytest

from backcheck.errors import BackcheckError, Mark
from backcheck.expression import (
    FUNCTIONS,
    Step,
    expr_to_text,
    free_names,
    parse_expression,
    parse_step,
    parse_steps,
)
from backcheck.literals import parse_yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cpu_bounds import cpu_bound  # noqa: E402

KNOWN = {"a", "b", "x", "y", "q", "z"}
MARK = Mark(7, 5)
PROBLEMS = Path(__file__).resolve().parent.parent / "problems"


def parse(text: str, known=KNOWN, mark: Mark | None = MARK):
    return parse_expression(text, known, file="p.yaml", mark=mark)


def error_of(text: str, known=KNOWN, mark: Mark | None = MARK) -> BackcheckError:
    with pytest.raises(BackcheckError) as info:
        parse(text, known, mark)
    error = info.value
    assert error.file == "p.yaml"
    assert error.mark is None or error.mark.line == MARK.line
    return error


def num(numerator: int, denominator: int = 1):
    return ("num", Fraction(numerator, denominator))


# ---------------------------------------------------------------- the happy path


def test_micrograd_readme_steps():
    steps = parse_steps(
        [
            ("c = a + b", Mark(3, 5)),
            ("d = a * b + b**3", Mark(4, 5)),
            ("e = c - d", Mark(5, 5)),
            ("f = e**2", Mark(6, 5)),
            ("g = f / 2.0", Mark(7, 5)),
        ],
        {"a": Mark(1, 10), "b": Mark(1, 17)},
        file="p.yaml",
    )
    assert [s.name for s in steps] == ["c", "d", "e", "f", "g"]
    assert steps[0] == Step("c", ("add", ("name", "a"), ("name", "b")), "c = a + b", Mark(3, 5))
    assert steps[1].expr == (
        "add",
        ("mul", ("name", "a"), ("name", "b")),
        ("pow", ("name", "b"), num(3)),
    )
    assert steps[2].expr == ("sub", ("name", "c"), ("name", "d"))
    assert steps[3].expr == ("pow", ("name", "e"), num(2))
    assert steps[4].expr == ("div", ("name", "f"), num(2))
    assert expr_to_text(steps[1].expr) == "a*b + b**3"


def test_micrograd_problem_file_parses():
    document = parse_yaml((PROBLEMS / "micrograd_readme.yaml").read_text(), "micrograd.yaml")
    data = document.data
    steps = [(text, document.mark(("steps", i))) for i, text in enumerate(data["steps"])]
    values = {name: document.mark(("values", name)) for name in data["values"]}
    parsed = parse_steps(steps, values, file=document.file)
    assert parsed[-1].name == "g2"
    assert free_names(parsed[-1].expr) == {"g", "f"}
    assert parsed[5].expr == (
        "add",
        ("name", "d2"),
        (
            "add",
            ("mul", num(3), ("name", "d2")),
            ("call", "relu", ("sub", ("name", "b"), ("name", "a"))),
        ),
    )


def test_literals_are_exact():
    assert parse("0.1") == num(1, 10)
    assert parse("0.1 + 0.2") == ("add", num(1, 10), num(2, 10))
    assert parse("1e-3") == num(1, 1000)
    assert parse(".5") == num(1, 2)
    assert parse("2.") == num(2)
    assert parse("1_000.5") == num(2001, 2)


def test_unary_operators_and_functions():
    assert parse("-x") == ("neg", ("name", "x"))
    assert parse("+x") == ("name", "x")
    assert parse("-x**2") == ("neg", ("pow", ("name", "x"), num(2)))
    assert parse("exp(-x)") == ("call", "exp", ("neg", ("name", "x")))
    for name in FUNCTIONS:
        assert parse(f"{name}(x)") == ("call", name, ("name", "x"))


def test_whitespace_is_ignored():
    assert parse("  a +\tb  ") == ("add", ("name", "a"), ("name", "b"))
    step = parse_step("  c=a  ", KNOWN, {}, file="p.yaml", mark=MARK)
    assert (step.name, step.expr, step.text) == ("c", ("name", "a"), "c=a")


def test_huge_power_parses_without_evaluating():
    with cpu_bound(0.5):
        assert parse("9**9**9") == ("pow", num(9), ("pow", num(9), num(9)))


def test_free_names():
    assert free_names(parse("a*b + exp(-x) / 2")) == {"a", "b", "x"}
    assert free_names(parse("3")) == set()


@pytest.mark.parametrize(
    "text",
    [
        "a*b + b**3",
        "-(x + y)",
        "exp(-x)",
        "(-x)**2",
        "-x**2",
        "a**b**x",
        "(a**b)**x",
        "a - (b - x)",
        "a - b - x",
        "a/(b*x)",
        "a*-b",
        "2**-x",
        "0.1*x",
        "relu(a + b)*(x - 1)",
    ],
)
def test_expr_to_text_round_trips_with_minimal_parentheses(text):
    expr = parse(text)
    assert expr_to_text(expr) == text
    assert parse(expr_to_text(expr)) == expr


def test_expr_to_text_numbers():
    assert expr_to_text(num(1, 3)) == "1/3"
    assert expr_to_text(("mul", ("name", "x"), num(1, 3))) == "x*(1/3)"
    assert expr_to_text(num(-5, 2)) == "-2.5"
    assert expr_to_text(("pow", num(-2), num(2))) == "(-2)**2"
    assert expr_to_text(num(1, 10**100)) == "1e-100"


# ---------------------------------------------------------------- hostile input


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("__import__('os').system('x')", "attribute access"),
        ("().__class__", "attribute access"),
        ("a if b else x", "if ... else"),
        ("[a]", "list"),
        ("a[0]", "indexing"),
        ("lambda: 1", "lambda"),
        ("x == 1", "`==` comparison"),
        ("x < 1", "`<` comparison"),
        ('"s"', "string"),
        ("b'x'", "bytes"),
        ("2j", "complex"),
        ("True", "True"),
        ("None", "None"),
        ("a // 2", "//"),
        ("a % 2", "%"),
        ("a @ b", "@"),
        ("a << 2", "<<"),
        ("a and b", "and"),
        ("not a", "not"),
        ("~a", "~"),
        ("f(x=1)", "unknown function 'f'"),
        ("exp(x=1)", "keyword argument"),
        ("exp(*a)", "unpacking"),
        ("exp(a, b)", "exactly one argument"),
        ("exp()", "exactly one argument"),
        ("(a, b)", "tuple"),
        ("{a: b}", "dictionary"),
        ("[a for a in b]", "comprehension"),
        ("f'{a}'", "f-string"),
        ("(y := 2)", ":="),
        ("a.real", "attribute access"),
        ("(a + b)(x)", "calling"),
        ("...", "..."),
        ("0x10", "decimal"),
    ],
)
def test_forbidden_constructs(text, words):
    error = error_of(text)
    assert words in error.message
    assert "'" in error.message  # the offending text or name is quoted


def test_xor_suggests_power():
    error = error_of("a ^ 2")
    assert "`^`" in error.message and "'a ^ 2'" in error.message
    assert "**" in error.hint


def test_error_column_points_at_the_construct():
    assert error_of("a + b.c").mark == Mark(7, 5 + 4)
    assert error_of("exp(x=1)").mark == Mark(7, 5 + 4)
    assert error_of("1 + zz").mark == Mark(7, 5 + 4)
    assert error_of("é + b.c", known={"é", "b"}).mark == Mark(
        7, 5 + 4
    )  # characters, not UTF-8 bytes
    assert error_of("a.b", mark=None).mark is None


def test_unknown_name_suggests_close_match():
    error = error_of("zz + 1", known={"x", "y", "zq"})
    assert error.message == "unknown name 'zz'; known: x, y, zq"
    assert "zq" in error.hint


def test_unknown_name_lists_known_names_in_order():
    error = error_of("w", known=["x", "y", "q"])
    assert error.message == "unknown name 'w'; known: x, y, q"


def test_misspelled_function_suggests_function():
    error = error_of("epx(a)")
    assert "unknown function 'epx'" in error.message
    assert "exp" in error.message


def test_function_used_as_value_and_value_called():
    assert "'exp' is a function" in error_of("exp + 1").message
    assert "'x' is a value, not a function" in error_of("x(2)").message


def test_unknown_function_lists_allowed():
    error = error_of("max(a)")
    assert error.message == (
        "unknown function 'max'; allowed: exp, log, sqrt, tanh, sigmoid, relu, sin, cos, abs"
    )


def test_syntax_errors():
    error = error_of("2x")
    assert error.message.startswith("cannot read step: ")
    assert "'2x'" in error.message
    assert error_of("a +").message.startswith("cannot read step: ")
    assert "cannot read step" in error_of("a\x00").message
    assert "found nothing" in error_of("   ").message


def test_number_out_of_range_is_located():
    error = error_of("1 + 1e400")
    assert "outside the range" in error.message
    assert error.mark == Mark(7, 5 + 4)


def test_deep_nesting_is_refused_quickly():
    for text in ["(" * 1000 + "a" + ")" * 1000, "(" * 60 + "a" + ")" * 60, "-" * 300 + "a"]:
        with cpu_bound(0.5):
            error = error_of(text)
        assert "too long" in error.message or "too deeply" in error.message
    assert "too deeply" in error_of("(" * 60 + "a" + ")" * 60).message
    assert parse("(" * 50 + "a" + ")" * 50) == ("name", "a")


def test_huge_step_is_refused_quickly():
    with cpu_bound(0.5), pytest.raises(BackcheckError) as info:
        parse_step("x = " + "a+" * 50_000 + "a", KNOWN, {}, file="p.yaml", mark=MARK)
    assert "too long" in info.value.message
    assert len(str(info.value)) < 200  # the step itself is not echoed


# ---------------------------------------------------------------- steps


def test_redefinition_names_both_lines():
    with pytest.raises(BackcheckError) as info:
        parse_steps(
            [("q = x + y", Mark(4, 5)), ("q = q * 2", Mark(6, 5))],
            {"x": Mark(2, 10), "y": Mark(2, 16)},
            file="p.yaml",
        )
    error = info.value
    assert "'q'" in error.message and "line 6" in error.message and "line 4" in error.message
    assert error.mark == Mark(6, 5)


def test_redefining_a_value_names_its_line():
    with pytest.raises(BackcheckError) as info:
        parse_steps([("x = 1", Mark(5, 5))], {"x": Mark(2, 10)}, file="p.yaml")
    assert "line 2" in info.value.message and "line 5" in info.value.message


def test_steps_see_only_earlier_steps():
    with pytest.raises(BackcheckError) as info:
        parse_steps([("q = r", Mark(4, 5)), ("r = x", Mark(5, 5))], {"x": None}, file="p.yaml")
    assert "unknown name 'r'" in info.value.message
    assert info.value.mark == Mark(4, 9)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("x + 1", "expected 'name = expression'"),
        ("q == x", "expected 'name = expression'"),
        ("q := x", "expected 'name = expression'"),
        ("= x", "name before '=' is missing"),
        ("2q = x", "not a valid name"),
        ("a.b = x", "not a valid name"),
        ("lambda = x", "not a valid name"),
        ("exp = x", "name of a function"),
        ("q = x = y", "exactly one '='"),
        ("q = x == y", "`==` comparison"),
    ],
)
def test_bad_step_syntax(text, words):
    with pytest.raises(BackcheckError) as info:
        parse_step(text, KNOWN - {"q"}, {}, file="p.yaml", mark=MARK)
    assert words in info.value.message


def test_step_error_column_is_shifted_by_the_name():
    with pytest.raises(BackcheckError) as info:
        parse_step("q = x + zz", KNOWN - {"q"}, {}, file="p.yaml", mark=MARK)
    assert info.value.mark == Mark(7, 5 + 8)


def test_value_named_like_a_function_is_refused():
    with pytest.raises(BackcheckError) as info:
        parse_steps([("q = exp(exp)", Mark(4, 5))], {"exp": Mark(2, 10)}, file="p.yaml")
    assert "function" in info.value.message
    assert info.value.mark == Mark(2, 10)


def test_step_that_is_not_text():
    with pytest.raises(BackcheckError) as info:
        parse_steps([(Fraction(3), Mark(4, 5))], {}, file="p.yaml")
    assert info.value.message == "expected a step 'name = expression', found a number"
    assert info.value.mark == Mark(4, 5)
