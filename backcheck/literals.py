"""Reading YAML files and the numbers in them exactly.

PyYAML turns ``0.1`` into the float nearest to a tenth and leaves ``1e-3`` as a string.
We never let it construct anything: the parser's events (libyaml's when installed, else
PyYAML's) are turned into plain Python data by our own builder, which turns every numeric
scalar's own text into a :class:`fractions.Fraction` (``0.1`` is exactly 1/10, ``"1/3"``
a third). Each value's position and source text are kept beside the data, keyed by its
path (``("layers", 0, "W", 1, 2)``), so later errors can name the line and column and the
grader can read the precision a student wrote (``0.50`` has two decimals).

Limits are enforced as the events arrive, before any expensive work: the file's size
first, then values (counting alias expansions: a "billion laughs" file is refused after
200,000), nesting depth, tags (plain data only) and each number's length and range.
"""

from __future__ import annotations

import errno
import os
import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from .errors import BackcheckError, Mark, quoted

#: Documented limits for every file backcheck reads.
MAX_FILE_BYTES = 2 * 1024 * 1024  # 2 MiB: far beyond any hand-worked problem
MAX_NODES = 200_000  # YAML values after expanding aliases (defeats "billion laughs")
MAX_DEPTH = 32  # nesting of lists/mappings
MAX_NUMBER_CHARS = 60  # digits in one number
MAX_EXPONENT = 100  # |x| <= 1e100 and nonzero |x| >= 1e-100

Path = tuple  # a path into the document: keys and 0-based indices

#: numbers are written with the ASCII digits 0-9 (``\d`` would also take ٣ or ３)
_DECIMAL = re.compile(r"^([+-]?)([0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE]([+-]?[0-9]+))?$")
#: plain scalars YAML 1.1 resolves as int or float, short enough to be in range
_PLAIN_NUMBER = re.compile(r"(?:[-+]?(?:0|[1-9][0-9]{0,49})(?:\.[0-9]{0,50})?|\.[0-9]{1,50})\Z")
_FRACTION = re.compile(r"^([+-]?[0-9]+)[ \t]*/[ \t]*([+-]?[0-9]+)$")
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
        power = int(exponent or 0)
        if abs(power) > MAX_EXPONENT + MAX_NUMBER_CHARS:
            raise BackcheckError(_range_message(text))
        whole, _, decimals = mantissa.partition(".")
        digits = int((whole + decimals) or "0")
        power -= len(decimals)
        if sign == "-":
            digits = -digits
        value = Fraction(digits * 10**power) if power >= 0 else Fraction(digits, 10**-power)
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


_LIMIT = 10**MAX_EXPONENT


def _check_range(value: Fraction, text: str) -> None:
    numerator, denominator = abs(value.numerator), value.denominator
    if numerator and not (denominator <= numerator * _LIMIT and numerator <= denominator * _LIMIT):
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
    return re.fullmatch(r"[+-]?[0-9]+", text.strip()) is not None


@dataclass
class Document:
    """A YAML file as plain data, with each value's position and source text."""

    file: str
    data: Any
    marks: dict[Path, Mark] = field(default_factory=dict)
    texts: dict[Path, str] = field(default_factory=dict)
    #: names declared under ``symbols:`` (FORMAT §8) → SymPy symbols; ``number`` accepts them
    symbols: dict[str, Any] = field(default_factory=dict)

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
            if value in self.symbols:
                return self.symbols[value]
            try:
                number = parse_number_text(value)
            except BackcheckError as error:
                raise error.located(self.file, self.mark(path)) from None
            if number is not None:
                return number
            reason = not_a_number_reason(value)
            raise self.error(
                f"expected {what}, found {reason or quoted(value)}",
                path,
                hint="numbers may be written 0.1, -2, 1e-3 or as a fraction \"1/3\", with "
                     "the digits 0-9",
            )
        kind = "a list" if isinstance(value, list) else "a mapping"
        raise self.error(f"expected {what}, found {kind}", path)


_DATE = re.compile(r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([Tt ].*)?\Z")
_YAML11_FORMS = (
    (re.compile(r"[-+]?0[xX][0-9a-fA-F_]+\Z"), "a hexadecimal number"),
    (re.compile(r"[-+]?0[oO]?[0-7_]+\Z"), "an octal number"),
    (re.compile(r"[-+]?0[bB][01_]+\Z"), "a binary number"),
    (re.compile(r"[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?\Z"),
     "a base-60 number (a time such as 1:30)"),
    (re.compile(r"[-+]?[0-9_.]*_[0-9_.]*([eE][-+]?[0-9]+)?\Z"), "digits grouped with _"),
)


def not_a_number_reason(text: str) -> str | None:
    """Why a text that YAML 1.1 (or Python) would read as a number is not one here:
    a date, 0x1F, 0o17, 0b11, 1:30, 1_000, or digits other than 0-9. Numbers in a
    problem or a sheet are decimal, written as a person would write them by hand."""
    text = text.strip()
    if _DATE.match(text):
        return f"a date ({quoted(text)})"
    for pattern, name in _YAML11_FORMS:
        if pattern.match(text) and any(c.isdigit() for c in text):
            return f"{quoted(text)}, {name}: write numbers in decimal"
    if any(c.isdigit() and not "0" <= c <= "9" for c in text):
        return f"{quoted(text)}, with digits other than 0-9"
    return None


def _not_a_file(mode: int) -> str | None:
    """What a path is when it is not a regular file (None when it is one)."""
    from .files import not_a_regular_file

    kind = not_a_regular_file(mode)
    return None if kind is None else f"is {kind}, expected a YAML file"


def check_input_path(path: str) -> os.stat_result:
    """Refuse, before opening it, what cannot be a problem or answers file: a name with a
    NUL byte, a missing file, a symlink loop, a folder, and anything that would block
    or never end when read (a FIFO, a device, a terminal, a socket). Returns its stat."""
    shown = str(path)
    if "\x00" in shown:
        raise BackcheckError("a file name cannot contain a NUL byte",
                             file=shown.replace("\x00", "\\x00"))
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise BackcheckError("no such file" if not os.path.islink(path) else
                             "no such file (a symbolic link that leads nowhere)",
                             file=shown) from None
    except OSError as error:
        reasons = {errno.ELOOP: "too many levels of symbolic links (a symlink loop)",
                   errno.ENOTDIR: "no such file (a part of the path is not a folder)",
                   errno.ENAMETOOLONG: "the file name is too long"}
        reason = reasons.get(error.errno or 0, f"cannot read file: {error.strerror or error}")
        raise BackcheckError(reason, file=shown) from None
    problem = _not_a_file(info.st_mode)
    if problem is not None:
        raise BackcheckError(problem, file=shown)
    return info


def read_text(path: str) -> str:
    """Read a file as UTF-8 text, with one clear error for every way that can fail.

    A FIFO, device or terminal is refused before it is opened, and the file is opened
    non-blocking and checked again (``fstat``), so nothing swapped in meanwhile can
    make a read block forever."""
    shown = str(path)
    size = check_input_path(path).st_size
    try:
        if size > MAX_FILE_BYTES:
            raise BackcheckError(
                f"file too large ({size / 1024 / 1024:.1f} MiB; backcheck reads files "
                f"up to {MAX_FILE_BYTES // 1024 // 1024} MiB)",
                file=shown,
            )
        handle = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
        with os.fdopen(handle, "rb") as stream:
            info = os.fstat(stream.fileno())
            problem = _not_a_file(info.st_mode)
            if problem is not None:
                raise BackcheckError(problem, file=shown)
            # read(MAX_FILE_BYTES + 1) in one go would allocate 2 MiB for every sheet:
            # read what the file says it holds, and on only if it holds more
            expected = min(info.st_size, MAX_FILE_BYTES) + 1
            raw = stream.read(expected)
            if len(raw) == expected and expected <= MAX_FILE_BYTES:
                raw += stream.read(MAX_FILE_BYTES + 1 - expected)
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


#: what YAML's reader refuses: control characters but tab, newline and carriage return;
#: DEL, C1 but NEL; surrogates; U+FFFE and U+FFFF
_NOT_YAML_TEXT = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd"
                            "\U00010000-\U0010ffff]")


def parse_yaml(text: str, file: str = "<input>") -> Document:
    """Parse YAML text into a :class:`Document`, enforcing every limit as it goes.

    The parser's events are consumed one at a time (libyaml's when available, else
    PyYAML's own), so a file over a limit (too many values, too deep, an alias bomb) is
    refused after reading only as far as the limit, in bounded time and memory: no node
    tree is ever composed and nothing is ever constructed. A plain answer sheet (the
    subset described at :func:`_read_plain`) is read straight from its lines instead, to
    the same Document, several times faster.
    """
    import yaml

    check_text(text, file)
    document = _read_plain(text, file)
    if document is not None:
        return document
    return _read_events(yaml, text, file)


def check_text(text: str, file: str = "<input>") -> None:
    """Refuse text no YAML reader should see: too large, NUL bytes, control characters,
    lone surrogates (each with one clear message)."""
    if len(text) > MAX_FILE_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        raise BackcheckError("file too large", file=file)
    if "\x00" in text:
        raise BackcheckError("not a text file (contains NUL bytes)", file=file)
    unreadable = _NOT_YAML_TEXT.search(text)
    if unreadable is not None:  # the reader's own error has no line:column
        at = unreadable.start()
        line = text.count("\n", 0, at) + 1
        column = at - (text.rfind("\n", 0, at) + 1) + 1
        code = ord(unreadable.group())
        raise BackcheckError(
            f"{'control character' if code < 0xA0 else 'character'} U+{code:04X} is not "
            f"allowed in YAML", file=file, mark=Mark(line, column),
            hint="inside double quotes it may be written as an escape, e.g. \"\\x01\"")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise BackcheckError("not valid text (contains a lone surrogate character)",
                             file=file) from None


def _read_events(yaml: Any, text: str, file: str) -> Document:
    """The general reader: libyaml's events through :class:`_EventBuilder`."""
    document = Document(file=file, data=None)
    try:
        _EventBuilder(document).run(_events(yaml, text))
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = Mark(mark.line + 1, mark.column + 1) if mark else None
        problem = error.problem or "invalid YAML"
        if "nesting depth" in problem or "nesting level" in problem:
            # Some PyYAML/libyaml versions stop deep flow nesting in their scanner,
            # before our builder sees the events: the message stays ours either way.
            raise BackcheckError(f"nested too deeply (at most {MAX_DEPTH} levels)",
                                 file=file, mark=where) from None
        context = f" ({error.context})" if error.context else ""
        raise BackcheckError(f"YAML syntax error: {problem}{context}", file=file,
                             mark=where) from None
    except yaml.YAMLError as error:
        raise BackcheckError(f"YAML error: {error}", file=file) from None
    except (RecursionError, MemoryError):
        raise BackcheckError(f"nested too deeply (at most {MAX_DEPTH} levels)", file=file) from None
    return document


def _events(yaml: Any, text: str) -> Any:
    """The parser's events, one at a time (libyaml when available: several times faster)."""
    loader_class = getattr(yaml, "CSafeLoader", None) or yaml.SafeLoader
    loader = loader_class(text)
    try:
        while loader.check_event():
            yield loader.get_event()
    finally:
        loader.dispose()


_RESOLVER: Any = None
_STR = "tag:yaml.org,2002:str"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_SPECIAL_KEYS = ("tag:yaml.org,2002:value", "tag:yaml.org,2002:merge")


def _resolve(kind: Any, value: Any, implicit: Any) -> str:
    global _RESOLVER
    if _RESOLVER is None:
        import yaml

        _RESOLVER = yaml.resolver.Resolver()
    return _RESOLVER.resolve(kind, value, implicit)


@dataclass
class _Anchor:
    value: Any
    count: int  # values inside, counted as the builder counts them
    depth: int  # levels of nesting inside
    entries: list  # (is_mark, path relative to the anchored value, mark or text)


@dataclass
class _Frame:
    kind: str  # "seq" or "map"
    value: Any
    path: Path
    depth: int
    count_at_start: int
    log_at_start: int
    anchor: str | None
    deepest: int = 0
    key: Any = None  # a mapping's pending key (None: a key comes next)
    key_marks: dict = field(default_factory=dict)


class _EventBuilder:
    """Builds plain data from parser events (the composer's job, without its node tree),
    counting values, depth and alias expansions against the limits as they arrive."""

    def __init__(self, document: Document) -> None:
        self.document = document
        self.count = 0
        self.anchors: dict[str, _Anchor] = {}
        self.open_anchors: set[str] = set()
        self.log: list = []  # (is_mark, absolute path, mark or text), for anchors
        self.logging = 0  # how many anchored collections are open

    def fail(self, message: str, mark: Mark | None) -> BackcheckError:
        return BackcheckError(message, file=self.document.file, mark=mark)

    def run(self, events: Any) -> None:
        import yaml

        scalar_event, alias_event = yaml.ScalarEvent, yaml.AliasEvent
        skipped = (yaml.StreamStartEvent, yaml.StreamEndEvent, yaml.DocumentEndEvent)
        ends = (yaml.SequenceEndEvent, yaml.MappingEndEvent)
        document_start = yaml.DocumentStartEvent
        marks, texts = self.document.marks, self.document.texts
        plain_number = _PLAIN_NUMBER.match
        documents = 0
        stack: list[_Frame] = []
        result: list = []
        for event in events:
            kind = type(event)
            if kind is document_start:
                documents += 1
                continue
            if kind in skipped:
                continue
            start = event.start_mark
            mark = Mark(start.line + 1, start.column + 1)
            if documents > 1:
                raise self.fail("the file holds several YAML documents (---); expected one",
                                mark)
            if kind in ends:
                frame = stack.pop()
                self.finish(frame.value, frame, stack, result)
                continue
            # a new value (or a mapping key) starts here
            parent = stack[-1] if stack else None
            if parent is None:
                path: Path = ()
                depth = 0
            elif parent.kind == "seq":
                path = parent.path + (len(parent.value),)
                depth = parent.depth + 1
            elif parent.key is None:
                parent.key = self.key(event, parent, mark)
                continue
            else:
                path = parent.path + (parent.key,)
                depth = parent.depth + 1
            if kind is alias_event:
                value = self.alias(event, path, depth, mark)
                self.attach(value, stack, result, self.anchors[event.anchor].depth + depth)
                continue
            self.count += 1
            if self.count > MAX_NODES:
                raise self.fail(
                    f"too many values (over {MAX_NODES:,} after expanding YAML aliases)", mark
                )
            if depth > MAX_DEPTH:
                raise self.fail(f"nested too deeply (at most {MAX_DEPTH} levels)", mark)
            anchor = event.anchor
            if kind is scalar_event and anchor is None and event.tag is None:
                text = event.value
                if (not event.style  # plain: None (PyYAML) or "" (libyaml)
                        and len(text) <= MAX_NUMBER_CHARS and plain_number(text)):
                    # the common case, a plain number such as -0.25: YAML resolves it as an
                    # int or float, and it has too few digits to leave the documented range
                    if path not in marks:
                        marks[path] = mark
                    texts[path] = text
                    if self.logging:
                        self.log.append((True, path, mark))
                        self.log.append((False, path, text))
                    whole, _, decimals = text.partition(".")
                    digits = int(whole + decimals)
                    value = Fraction(digits, 10 ** len(decimals)) if decimals else Fraction(digits)
                    self.attach(value, stack, result, depth)
                    continue
            tag = self.tag(event)
            if tag not in _ALLOWED_TAGS:
                raise self.fail(
                    f"YAML tag {quoted(tag, 80)} is not allowed (backcheck reads plain data "
                    f"only)", mark)
            self.set_mark(path, mark)
            if kind is scalar_event:
                start_count, start_log = self.count - 1, len(self.log)
                if anchor is not None:
                    self.logging += 1
                    self.log.append((True, path, mark))
                value = self.scalar(event, tag, path, mark)
                if anchor is not None:
                    self.logging -= 1
                    self.remember(anchor, value, path, start_count, start_log, 0)
                self.attach(value, stack, result, depth)
                continue
            collection = "seq" if kind is yaml.SequenceStartEvent else "map"
            frame = _Frame(collection, [] if collection == "seq" else {}, path, depth,
                           self.count - 1, len(self.log), anchor, deepest=depth)
            if anchor is not None:
                self.logging += 1
                self.open_anchors.add(anchor)
                self.log.append((True, path, mark))
            stack.append(frame)
        if stack or not result or result[0] is None:
            raise BackcheckError("the file is empty, expected a YAML mapping",
                                 file=self.document.file)
        self.document.data = result[0]

    def finish(self, value: Any, frame: _Frame, stack: list, result: list) -> None:
        if frame.anchor is not None:
            self.logging -= 1
            self.open_anchors.discard(frame.anchor)
            self.remember(frame.anchor, value, frame.path, frame.count_at_start,
                          frame.log_at_start, frame.deepest - frame.depth)
        self.attach(value, stack, result, frame.deepest)

    def attach(self, value: Any, stack: list, result: list, deepest: int) -> None:
        if not stack:
            result.append(value)
            return
        parent = stack[-1]
        if deepest > parent.deepest:
            parent.deepest = deepest
        if parent.kind == "seq":
            parent.value.append(value)
        else:
            parent.value[parent.key] = value
            parent.key = None

    def remember(self, name: str, value: Any, path: Path, count_at_start: int,
                 log_at_start: int, depth: int) -> None:
        cut = len(path)
        entries = [(is_mark, p[cut:], item) for is_mark, p, item in self.log[log_at_start:]]
        self.anchors[name] = _Anchor(value, self.count - count_at_start, depth, entries)
        if not self.logging:
            del self.log[:]

    def key(self, event: Any, frame: _Frame, mark: Mark) -> str:
        import yaml

        if isinstance(event, yaml.AliasEvent) and event.anchor in self.anchors:
            anchored = self.anchors[event.anchor].value
            if isinstance(anchored, str):
                return self.check_key(anchored, frame, mark)
        if not isinstance(event, yaml.ScalarEvent):
            raise self.fail("a mapping key must be a plain name", mark)
        return self.check_key(str(event.value), frame, mark)

    def check_key(self, key: str, frame: _Frame, mark: Mark) -> str:
        if key in frame.value or key in frame.key_marks:
            first = frame.key_marks[key]
            raise self.fail(f"key {quoted(key)} appears twice (first at line {first.line})", mark)
        frame.key_marks[key] = mark
        return key

    def alias(self, event: Any, path: Path, depth: int, mark: Mark) -> Any:
        name = event.anchor
        if name in self.open_anchors:
            raise self.fail(f"alias *{name} refers to a value that contains it", mark)
        anchor = self.anchors.get(name)
        if anchor is None:
            raise self.fail(f"alias *{name} refers to no anchor &{name} before it", mark)
        self.count += anchor.count
        if self.count > MAX_NODES:
            raise self.fail(
                f"too many values (over {MAX_NODES:,} after expanding YAML aliases)", mark
            )
        if depth + anchor.depth > MAX_DEPTH:
            raise self.fail(f"nested too deeply (at most {MAX_DEPTH} levels)", mark)
        self.set_mark(path, mark)
        for is_mark, relative, item in anchor.entries:
            if is_mark:
                if relative:  # the alias itself is marked where it is written
                    self.set_mark(path + relative, item)
            else:
                self.set_text(path + relative, item)
        return _copy(anchor.value)

    def set_mark(self, path: Path, mark: Mark) -> None:
        if path not in self.document.marks:
            self.document.marks[path] = mark
        if self.logging:
            self.log.append((True, path, mark))

    def set_text(self, path: Path, text: str) -> None:
        self.document.texts[path] = text
        if self.logging:
            self.log.append((False, path, text))

    def tag(self, event: Any) -> str:
        import yaml

        tag = event.tag
        if tag is None or tag == "!":
            if isinstance(event, yaml.ScalarEvent):
                tag = _resolve(yaml.ScalarNode, event.value, event.implicit)
                # YAML 1.1 reads a bare = or << as special keys, and 2001-01-01 as a
                # date: here they are just text (a date where a number is expected is
                # "expected a number, found a date")
                return _STR if tag in _SPECIAL_KEYS or tag == _TIMESTAMP else tag
            sequence = isinstance(event, yaml.SequenceStartEvent)
            kind = yaml.SequenceNode if sequence else yaml.MappingNode
            return _resolve(kind, None, event.implicit)
        return tag

    def scalar(self, event: Any, tag: str, path: Path, mark: Mark) -> Any:
        text = event.value
        self.set_text(path, text)
        return _scalar_value(text, tag.rsplit(":", 1)[-1], self.document.file, mark)


def _copy(value: Any) -> Any:
    if isinstance(value, list):
        return [_copy(v) for v in value]
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    return value


def _scalar_value(text: str, tag: str, file: str, mark: Mark) -> Any:
    """A scalar's plain value: None, a bool, an exact Fraction, or the text itself."""
    if tag == "null":
        return None
    if tag == "bool":
        return text.lower() in ("true", "yes", "on", "y")
    if tag in ("int", "float"):
        try:
            number = parse_number_text(text)
        except BackcheckError as error:
            raise error.located(file, mark) from None
        if number is not None:
            return number
        # YAML 1.1 forms (0x1F, 0o17, 1_000, 1:30, 1_000.5) are not numbers here: they
        # stay text, and where a number is expected the message says what they are
        return text
    return text


# A fast reader for plain answer sheets --------------------------------------------------
#
# Grading a class reads thousands of sheets that are all alike: ``key: value`` lines, and
# under ``answers:`` one ``name: [numbers]`` line per quantity. For text inside a strict,
# conservative subset of YAML (below) the Document is built straight from the lines, with
# the same data, marks (the position libyaml gives each value) and texts as the event
# builder, several times faster. Anything outside the subset -- quotes, anchors, tags,
# block sequences, multi-line values, flow mappings, tabs, non-ASCII text, duplicate keys,
# empty values, numbers out of range, limits reached -- returns None, and the event
# builder reads the file (and gives its error, if any). tests/test_plain_sheets.py runs
# both readers on every YAML file in the repository, on generated sheets and on fuzzed
# ones, and requires them to agree whenever this one accepts.
#
# The subset, line by line (every line ends at \n; no tab, no carriage return):
#   blank, or only spaces, or a comment (spaces, then #)
#   KEY: VALUE        at column 0, KEY a name ([A-Za-z_][A-Za-z0-9_]*)
#   KEY:              at column 0, followed by one block of entries, all at one indent:
#     NAME: VALUE     NAME of [A-Za-z0-9_/.[],+-], not starting with a sign, dot or bracket
# VALUE is a flow sequence on one line ([1, -2.5, [3, x]]; items of [A-Za-z0-9_.~+-],
# nested), or one plain word or phrase of [A-Za-z0-9_./+-() ,~=] that starts with a letter,
# digit, _ . / ~ ( or a sign before a letter, digit, _ or dot. A comment may follow either
# after a space. Every value is resolved (number, null, bool, date, text) by the same
# code as the event builder's.


class _NotPlain(Exception):
    """The text is outside the plain-sheet subset: the event builder reads it."""


_TOP_KEY = re.compile(r"([A-Za-z_][A-Za-z0-9_]*):(?: +|\Z)")
_ENTRY_KEY = re.compile(r"([A-Za-z0-9_][A-Za-z0-9_/.\[\],+-]*):(?: +|\Z)")
_BLOCK_VALUE = re.compile(r"(?:[A-Za-z0-9_./~(]|[-+][A-Za-z0-9_.])[A-Za-z0-9_./+\-() ,~=]*\Z")
_FLOW_ITEM = re.compile(r" *([+-]?[A-Za-z0-9_.~][A-Za-z0-9_.+~-]*) *([,\]])")
_FLOW_OPEN = re.compile(r" *\[")
_SIMPLE_NUMBERS = r"[+-]?[0-9.]+(?:, [+-]?[0-9.]+)*"
_SIMPLE_FLOW_TEXT = (rf"\[{_SIMPLE_NUMBERS}\]"
                     rf"|\[\[{_SIMPLE_NUMBERS}(?:\], \[{_SIMPLE_NUMBERS})*\]\]")
_SIMPLE_FLOW = re.compile(_SIMPLE_FLOW_TEXT)
#: an entry whose value is a simple flow sequence, the common line of a sheet
_SIMPLE_ENTRY = re.compile(rf"( +)([A-Za-z0-9_][A-Za-z0-9_/.\[\],+-]*): +({_SIMPLE_FLOW_TEXT}) *\Z")
_FLOW_AFTER = re.compile(r" *([,\]])")
_FLOW_EMPTY = re.compile(r" *\]")
_LINE_TAIL = re.compile(r"(?: +(?:#.*)?)?\Z")
_FRACTIONS: dict[str, Fraction] = {}  # plain number text -> its value (immutable, shared)
_MARKS: dict[int, Mark] = {}  # line << 22 | column -> Mark (immutable, shared)
_CHILD_PATHS: dict[tuple, list[tuple]] = {}  # path -> [path + (0,), path + (1,), ...]
_CACHE_LIMIT = 50_000  # entries each of these caches keeps (a class needs a few thousand)


def _read_plain(text: str, file: str) -> Document | None:
    """The Document of a plain sheet, or None when the text is outside the subset."""
    if not text.isascii() or "\t" in text or "\r" in text:
        return None
    document = Document(file=file, data=None)
    try:
        _PlainReader(document).read(text)
    except _NotPlain:
        return None
    return document


class _PlainReader:
    def __init__(self, document: Document) -> None:
        self.document = document
        self.marks = document.marks
        self.texts = document.texts
        self.count = 0
        if len(_FRACTIONS) > _CACHE_LIMIT:
            _FRACTIONS.clear()
        if len(_MARKS) > _CACHE_LIMIT:
            _MARKS.clear()

    def read(self, text: str) -> None:
        data: dict = {}
        marks = self.marks
        open_key: str | None = None  # a top-level key waiting for its block of entries
        block: dict | None = None
        block_indent = 0
        entry_key, top_key, inline = _ENTRY_KEY.match, _TOP_KEY.match, self.inline
        simple_entry = _SIMPLE_ENTRY.match
        for number, line in enumerate(text.split("\n"), 1):
            if not line:
                continue
            first = line[0]
            if first == " ":
                simple = simple_entry(line)
                if simple is not None and open_key is not None:  # the common line
                    block, block_indent = self.entry_block(data, open_key, block, block_indent,
                                                           simple.end(1), number)
                    key = simple.group(2)
                    if key in block:
                        raise _NotPlain
                    path = (open_key, key)
                    start = simple.start(3)
                    self.count += 1
                    marks[path] = _mark(number, start + 1)
                    block[key] = self.simple_flow(simple.group(3), start, number, path)
                    continue
                body = line.lstrip(" ")
                if not body or body[0] == "#":
                    continue
                if open_key is None:
                    raise _NotPlain
                indent = len(line) - len(body)
                block, block_indent = self.entry_block(data, open_key, block, block_indent,
                                                       indent, number)
                match = entry_key(body)
                if match is None:
                    raise _NotPlain
                key = match.group(1)
                if key in block:
                    raise _NotPlain
                column = indent + match.end()
                if column == len(line) or line[column] == "#":
                    raise _NotPlain  # an empty value (null), or a block under it
                block[key] = inline(line, column, number, (open_key, key), 2)
                continue
            if first == "#":
                continue
            if open_key is not None and block is None:
                raise _NotPlain  # an empty value (null): libyaml's business
            open_key = block = None
            match = top_key(line)
            if match is None:
                raise _NotPlain
            key = match.group(1)
            if key in data:
                raise _NotPlain
            if not data:
                marks[()] = _mark(number, 1)
                self.count += 1
            column = match.end()
            if column == len(line) or line[column] == "#":
                open_key = key
                data[key] = None  # holds the key's place; its block replaces it
                continue
            data[key] = inline(line, column, number, (key,), 1)
        if (open_key is not None and block is None) or not data or self.count > MAX_NODES:
            raise _NotPlain
        self.document.data = data

    def entry_block(self, data: dict, key: str, block: dict | None, block_indent: int,
                    indent: int, number: int) -> tuple[dict, int]:
        """The block of entries under the top-level ``key`` (opened at its first entry,
        which sets the indent every later entry must have)."""
        if block is None:
            block = data[key] = {}
            self.marks[(key,)] = _mark(number, indent + 1)
            self.count += 1
            return block, indent
        if indent != block_indent:
            raise _NotPlain
        return block, block_indent

    def inline(self, line: str, column: int, number: int, path: Path, depth: int) -> Any:
        """The value written on ``line`` from ``column`` (0-based) to its end."""
        if line[column] == "[":
            value, end = self.flow(line, column, number, path, depth)
            if not _LINE_TAIL.match(line, end):
                raise _NotPlain
            return value
        rest = line[column:]
        cut = rest.find(" #")
        if cut >= 0:
            rest = rest[:cut]
        rest = rest.rstrip(" ")
        if not _BLOCK_VALUE.match(rest):
            raise _NotPlain
        self.count += 1
        return self.scalar(rest, _mark(number, column + 1), path)

    def scalar(self, text: str, mark: Mark, path: Path) -> Any:
        """A plain scalar's value, exactly as :class:`_EventBuilder` makes it."""
        value = _FRACTIONS.get(text)
        if value is None:
            if len(text) <= MAX_NUMBER_CHARS and _PLAIN_NUMBER.match(text):
                value = _FRACTIONS[text] = _plain_number_value(text)
            else:
                value = self.resolved(text, mark)
        self.marks[path] = mark
        self.texts[path] = text
        return value

    def number(self, text: str, mark: Mark) -> Any:
        """A flow item's value (:meth:`scalar` without recording its mark and text)."""
        value = _FRACTIONS.get(text)
        if value is None:
            if len(text) <= MAX_NUMBER_CHARS and _PLAIN_NUMBER.match(text):
                value = _FRACTIONS[text] = _plain_number_value(text)
            else:
                value = self.resolved(text, mark)
        return value

    def resolved(self, text: str, mark: Mark) -> Any:
        import yaml

        tag = _resolve(yaml.ScalarNode, text, (True, False))
        if tag in _SPECIAL_KEYS or tag == _TIMESTAMP:
            tag = _STR
        if tag not in _ALLOWED_TAGS:
            raise _NotPlain
        try:
            return _scalar_value(text, tag.rsplit(":", 1)[-1], self.document.file, mark)
        except BackcheckError:
            raise _NotPlain from None

    def flow(self, line: str, start: int, number: int, path: Path,
             depth: int) -> tuple[list, int]:
        """The flow sequence whose ``[`` is at ``line[start]``: (its items, where it ends)."""
        if depth > MAX_DEPTH:
            raise _NotPlain
        self.count += 1
        self.marks[path] = _mark(number, start + 1)
        items: list = []
        position = start + 1
        empty = _FLOW_EMPTY.match(line, position)
        if empty is not None:
            return items, empty.end()
        if depth + 2 <= MAX_DEPTH:
            simple = _SIMPLE_FLOW.match(line, start)
            if simple is not None:
                return self.simple_flow(simple.group(), start, number, path), simple.end()
        item, opening, after = _FLOW_ITEM.match, _FLOW_OPEN.match, _FLOW_AFTER.match
        fractions, marks, texts = _FRACTIONS, self.marks, self.texts
        key_base = number << 22
        inner = depth + 1
        if inner > MAX_DEPTH:
            raise _NotPlain
        index = 0
        while True:
            match = item(line, position)
            if match is not None:
                text = match.group(1)
                column = match.start(1) + 1
                mark = _MARKS.get(key_base | column) or _mark(number, column)
                value = fractions.get(text)
                if value is None:
                    if len(text) <= MAX_NUMBER_CHARS and _PLAIN_NUMBER.match(text):
                        value = fractions[text] = _plain_number_value(text)
                    else:
                        value = self.resolved(text, mark)
                here = path + (index,)
                marks[here] = mark
                texts[here] = text
                items.append(value)
                self.count += 1
                if self.count > MAX_NODES:
                    raise _NotPlain
                index += 1
                position = match.end()
                if match.group(2) == "]":
                    return items, position
                continue
            match = opening(line, position)
            if match is None:
                raise _NotPlain
            value, position = self.flow(line, match.end() - 1, number, path + (index,), inner)
            items.append(value)
            index += 1
            match = after(line, position)
            if match is None:
                raise _NotPlain
            position = match.end()
            if match.group(1) == "]":
                return items, position

    def simple_flow(self, text: str, start: int, number: int, path: Path) -> list:
        """A flow sequence :data:`_SIMPLE_FLOW` matched (``text``, its ``[`` at
        ``line[start]``): a list of numbers, or a list of lists of numbers, each item
        followed by exactly ", " (the way make_sheets and most people write them)."""
        marks, texts, fractions, known_marks = self.marks, self.texts, _FRACTIONS, _MARKS
        key_base = number << 22
        if text[1] != "[":
            rows = [text[1:-1]]
            column = start + 2  # 1-based, of the first number
            outer = None
        else:
            rows = text[2:-2].split("], [")
            column = start + 3
            outer = []
        for index, row in enumerate(rows):
            if outer is not None:
                here = path + (index,)
                marks[here] = _MARKS.get(key_base | column - 1) or _mark(number, column - 1)
            else:
                here = path
            words = row.split(", ")
            paths = child_paths(here, len(words))
            values = []
            for i, word in enumerate(words):
                mark = known_marks.get(key_base | column) or _mark(number, column)
                child = paths[i]
                marks[child] = mark
                texts[child] = word
                value = fractions.get(word)
                values.append(value if value is not None else self.number(word, mark))
                column += len(word) + 2
            self.count += len(words)
            if outer is None:
                break
            outer.append(values)
            column += 2
        if outer is not None:
            self.count += len(rows)
        if self.count > MAX_NODES:
            raise _NotPlain
        return values if outer is None else outer


def child_paths(path: Path, count: int) -> list[Path]:
    """``[path + (0,), path + (1,), ...]``, at least ``count`` of them (shared: a class's
    sheets have the same paths, and tuples are immutable)."""
    paths = _CHILD_PATHS.get(path)
    if paths is None or len(paths) < count:
        paths = [path + (i,) for i in range(count)]
        if count <= 1000:  # a hostile file's long lists are not kept
            if len(_CHILD_PATHS) > _CACHE_LIMIT:
                _CHILD_PATHS.clear()
            _CHILD_PATHS[path] = paths
    return paths


def _mark(line: int, column: int) -> Mark:
    """Mark(line, column), shared: sheets of one problem put their values in the same
    places, and a Mark is immutable."""
    key = line << 22 | column
    mark = _MARKS.get(key)
    if mark is None:
        mark = _MARKS[key] = Mark(line, column)
    return mark


def _plain_number_value(text: str) -> Fraction:
    """The value of a text :data:`_PLAIN_NUMBER` matches (as :class:`_EventBuilder` computes it)."""
    whole, _, decimals = text.partition(".")
    digits = int(whole + decimals)
    return Fraction(digits, 10 ** len(decimals)) if decimals else Fraction(digits)
