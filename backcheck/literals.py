"""Reading YAML files and the numbers in them exactly.

PyYAML turns ``0.1`` into the float nearest to a tenth and leaves ``1e-3`` as a string.
We never let it construct anything: the file is *composed* into nodes with the safe
loader, and we build plain Python data ourselves, turning every numeric scalar's own
text into a :class:`fractions.Fraction` (``0.1`` is exactly 1/10, ``"1/3"`` a third).
Each value's position and source text are kept beside the data, keyed by its path
(``("layers", 0, "W", 1, 2)``), so later errors can name the line and column and the
grader can read the precision a student wrote (``0.50`` has two decimals).

Limits are enforced before any expensive work (see ``LIMITS``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from .errors import BackcheckError, Mark

#: Documented limits for every file backcheck reads.
MAX_FILE_BYTES = 2 * 1024 * 1024  # 2 MiB: far beyond any hand-worked problem
MAX_NODES = 200_000  # YAML values after expanding aliases (defeats "billion laughs")
MAX_DEPTH = 32  # nesting of lists/mappings
MAX_NUMBER_CHARS = 60  # digits in one number
MAX_EXPONENT = 100  # |x| <= 1e100 and nonzero |x| >= 1e-100

Path = tuple  # a path into the document: keys and 0-based indices

_DECIMAL = re.compile(r"^([+-]?)(\d+\.?\d*|\.\d+)(?:[eE]([+-]?\d+))?$")
_FRACTION = re.compile(r"^([+-]?\d+)\s*/\s*([+-]?\d+)$")
_NONFINITE = re.compile(r"^[+-]?\.?(inf|infinity|nan)$", re.IGNORECASE)
_ALLOWED_TAGS = {
    "tag:yaml.org,2002:" + t for t in ("str", "int", "float", "bool", "null", "seq", "map")
}


def parse_number_text(text: str) -> Fraction | None:
    """The exact value of a written number, or None if the text is not a number.

    Accepts decimals (``0.1``, ``-.5``, ``1e-3``, ``2.5E2``) and fractions (``1/3``).
    Raises :class:`BackcheckError` (without a position) for numbers that are
    non-finite or out of range, so the caller can add the position.
    """
    text = text.strip()
    if _NONFINITE.match(text):
        raise BackcheckError(f"{text!r} is not a finite number")
    if len(text) > MAX_NUMBER_CHARS:
        if _DECIMAL.match(text) or _FRACTION.match(text):
            raise BackcheckError(
                f"number too long ({len(text)} characters; at most {MAX_NUMBER_CHARS})"
            )
        return None
    match = _DECIMAL.match(text)
    if match:
        sign, mantissa, exponent = match.groups()
        if exponent is not None and abs(int(exponent)) > MAX_EXPONENT + MAX_NUMBER_CHARS:
            raise BackcheckError(_range_message(text))
        value = Fraction(sign + mantissa) * Fraction(10) ** int(exponent or 0)
        _check_range(value, text)
        return value
    match = _FRACTION.match(text)
    if match:
        numerator, denominator = (int(g) for g in match.groups())
        if denominator == 0:
            raise BackcheckError(f"{text!r} divides by zero")
        value = Fraction(numerator, denominator)
        _check_range(value, text)
        return value
    return None


def _range_message(text: str) -> str:
    return (
        f"{text} is outside the range backcheck works in "
        f"(magnitudes from 1e-{MAX_EXPONENT} to 1e{MAX_EXPONENT}, and 0)"
    )


def _check_range(value: Fraction, text: str) -> None:
    if value and not (Fraction(1, 10**MAX_EXPONENT) <= abs(value) <= 10**MAX_EXPONENT):
        raise BackcheckError(_range_message(text))


def written_decimals(text: str) -> int | None:
    """How many decimal places a written number claims, or None if it is exact.

    ``0.50`` → 2, ``1.5e-3`` → 4, ``5`` → 0, ``5e2`` → -2; ``1/3`` → None (a fraction is
    exact). Used by the grader: an answer is right when it agrees with the truth to half a
    unit in its last written digit.
    """
    text = text.strip()
    match = _DECIMAL.match(text)
    if not match:
        return None
    _, mantissa, exponent = match.groups()
    decimals = len(mantissa.split(".", 1)[1]) if "." in mantissa else 0
    return decimals - int(exponent or 0)


def is_integer_text(text: str) -> bool:
    """True for numbers written as whole numbers with no point or exponent (``12``)."""
    return re.fullmatch(r"[+-]?\d+", text.strip()) is not None


@dataclass
class Document:
    """A YAML file as plain data, with each value's position and source text."""

    file: str
    data: Any
    marks: dict[Path, Mark] = field(default_factory=dict)
    texts: dict[Path, str] = field(default_factory=dict)

    def mark(self, path: Path) -> Mark | None:
        """The position of the value at ``path`` (or of its nearest enclosing value)."""
        path = tuple(path)
        while True:
            if path in self.marks:
                return self.marks[path]
            if not path:
                return None
            path = path[:-1]

    def error(self, message: str, path: Path = (), hint: str | None = None) -> BackcheckError:
        return BackcheckError(message, file=self.file, mark=self.mark(path), hint=hint)

    def number(self, value: Any, path: Path, what: str = "a number") -> Fraction:
        """The exact number at ``path``, or a located error saying what was expected."""
        if isinstance(value, bool) or value is None:
            shown = "nothing (null)" if value is None else repr(value).lower()
            raise self.error(f"expected {what}, found {shown}", path)
        if isinstance(value, Fraction):
            return value
        if isinstance(value, str):
            try:
                number = parse_number_text(value)
            except BackcheckError as error:
                raise error.located(self.file, self.mark(path)) from None
            if number is not None:
                return number
            raise self.error(
                f"expected {what}, found {value!r}",
                path,
                hint="numbers may be written 0.1, -2, 1e-3 or as a fraction \"1/3\"",
            )
        kind = "a list" if isinstance(value, list) else "a mapping"
        raise self.error(f"expected {what}, found {kind}", path)


def _mark(node: Any) -> Mark:
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1)


def read_text(path: str) -> str:
    """Read a file as UTF-8 text, with one clear error for every way that can fail."""
    shown = str(path)
    if not os.path.exists(path):
        raise BackcheckError("no such file", file=shown)
    if os.path.isdir(path):
        raise BackcheckError("is a directory, expected a YAML file", file=shown)
    try:
        size = os.path.getsize(path)
        if size > MAX_FILE_BYTES:
            raise BackcheckError(
                f"file too large ({size / 1024 / 1024:.1f} MiB; backcheck reads files "
                f"up to {MAX_FILE_BYTES // 1024 // 1024} MiB)",
                file=shown,
            )
        with open(path, "rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise BackcheckError(f"cannot read file: {error.strerror or error}", file=shown) from None
    if len(raw) > MAX_FILE_BYTES:
        raise BackcheckError("file too large", file=shown)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        column = error.start - (raw.rfind(b"\n", 0, error.start) + 1) + 1
        raise BackcheckError(
            f"not UTF-8 text (byte 0x{raw[error.start]:02x})",
            file=shown,
            mark=Mark(line, column),
        ) from None


def load_yaml(path: str) -> Document:
    """Read and parse a YAML file into a :class:`Document` (nothing is ever constructed)."""
    return parse_yaml(read_text(path), str(path))


def parse_yaml(text: str, file: str = "<input>") -> Document:
    import yaml

    if len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        raise BackcheckError("file too large", file=file)
    if "\x00" in text:
        raise BackcheckError("not a text file (contains NUL bytes)", file=file)
    try:
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = Mark(mark.line + 1, mark.column + 1) if mark else None
        problem = error.problem or "invalid YAML"
        context = f" ({error.context})" if error.context else ""
        raise BackcheckError(f"YAML syntax error: {problem}{context}", file=file, mark=where) from None
    except yaml.YAMLError as error:
        raise BackcheckError(f"YAML error: {error}", file=file) from None
    except RecursionError:
        raise BackcheckError(f"nested too deeply (at most {MAX_DEPTH} levels)", file=file) from None
    nodes = [n for n in nodes if n is not None]
    if not nodes:
        raise BackcheckError("the file is empty, expected a YAML mapping", file=file)
    if len(nodes) > 1:
        raise BackcheckError(
            "the file holds several YAML documents (---); expected one",
            file=file,
            mark=_mark(nodes[1]),
        )
    document = Document(file=file, data=None)
    builder = _Builder(document)
    document.data = builder.build(nodes[0], (), 0)
    return document


class _Builder:
    """Turns composed YAML nodes into plain data, counting and locating as it goes."""

    def __init__(self, document: Document) -> None:
        self.document = document
        self.count = 0

    def fail(self, message: str, node: Any) -> BackcheckError:
        return BackcheckError(message, file=self.document.file, mark=_mark(node))

    def build(self, node: Any, path: Path, depth: int) -> Any:
        import yaml

        self.count += 1
        if self.count > MAX_NODES:
            raise self.fail(
                f"too many values (over {MAX_NODES:,} after expanding YAML aliases)", node
            )
        if depth > MAX_DEPTH:
            raise self.fail(f"nested too deeply (at most {MAX_DEPTH} levels)", node)
        if node.tag not in _ALLOWED_TAGS:
            raise self.fail(
                f"YAML tag {node.tag!r} is not allowed (backcheck reads plain data only)", node
            )
        if path not in self.document.marks:
            self.document.marks[path] = _mark(node)
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, path + (i,), depth + 1) for i, item in enumerate(node.value)]
        result: dict[str, Any] = {}
        key_marks: dict[str, Mark] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise self.fail("a mapping key must be a plain name", key_node)
            key = str(key_node.value)
            if key in result:
                first = key_marks[key]
                raise self.fail(
                    f"key {key!r} appears twice (first at line {first.line})", key_node
                )
            key_marks[key] = _mark(key_node)
            self.document.marks[path + (key,)] = _mark(value_node)
            result[key] = self.build(value_node, path + (key,), depth + 1)
        return result

    def scalar(self, node: Any, path: Path) -> Any:
        text = node.value
        self.document.texts[path] = text
        tag = node.tag.rsplit(":", 1)[-1]
        if tag == "null":
            return None
        if tag == "bool":
            return text.lower() in ("true", "yes", "on", "y")
        if tag in ("int", "float"):
            try:
                number = parse_number_text(text)
            except BackcheckError as error:
                raise error.located(self.document.file, _mark(node)) from None
            if number is not None:
                return number
            if tag == "int":  # 0x1F, 0o17, 1_000 and other YAML 1.1 spellings
                import yaml

                try:
                    value = yaml.constructor.SafeConstructor().construct_yaml_int(node)
                    return Fraction(value)
                except Exception:
                    pass
            raise self.fail(f"cannot read {text!r} as a number", node)
        return text
