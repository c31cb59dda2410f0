"""Text from files, made safe to show and to write.

Student names, titles, paths, answer texts and messages quoting a file come from people
we do not trust. Shown raw, ``\\e[2J`` clears a grader's screen, ``\\e]52;…`` writes the
clipboard, a bidi override (U+202E) makes ``txt.exe`` read as ``exe.txt``, and a fake
``\\e[32mAda: 19/19 correct`` forges a grade. Every boundary where such text leaves
backcheck (the terminal, CSV, JSON, DOT, generated YAML) goes through this module, so
the rule lives in one place:

* :func:`escape`: control characters (C0 including newline and tab, DEL, C1), bidi
  controls, line/paragraph separators and lone surrogates become visible escapes
  (``\\x1b``, ``\\u202e``); the backslash itself is left alone (paths on Windows, LaTeX).
  For the terminal, CSV cells, DOT labels.
* :func:`safe_json`: JSON whose every risky character is a ``\\uXXXX`` escape: the
  data reads back exactly, the bytes carry no control or bidi character.
* :func:`yaml_string`: a YAML scalar that reads back as the same string (quoted when
  a plain scalar would not, e.g. ``quiz #1.yaml`` or ``week 3: backprop.yaml``) and
  whose bytes carry no control or bidi character.

Rich markup is never interpreted in such text: renderers build ``rich.text.Text``
objects (literal), and the consoles have markup off (``render/console.py``).
"""

from __future__ import annotations

import json
import re
from typing import Any

#: every character that must never reach a terminal or a written file raw
UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f"            # C0 (newline and tab too), DEL, C1 (8-bit CSI, OSC …)
    "\u061c\u200e\u200f"             # Arabic letter mark, left-to-right / right-to-left marks
    "\u202a-\u202e\u2066-\u2069"     # bidi embeddings, overrides and isolates
    "\u2028\u2029"                   # line and paragraph separators
    "\ud800-\udfff"                  # lone surrogates (unencodable: would crash the output)
    "\ufff9-\ufffb]"                 # interlinear annotation controls
)

#: the same set, keeping the newline: for text that is ours and spans lines (the net
#: under the consoles, where a rendered line break is a real one)
UNSAFE_KEEP_NEWLINE = re.compile(UNSAFE.pattern.replace("\x00-\x1f", "\x00-\x09\x0b-\x1f"))


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def escape(text: object) -> str:
    """``text`` with every control, bidi and separator character as a visible escape
    (``\\x1b``, ``\\n``-as-``\\x0a``, ``\\u202e``): one line, inert in any terminal."""
    value = "" if text is None else str(text)
    return UNSAFE.sub(_visible, value) if UNSAFE.search(value) else value


def escape_keep_newlines(text: str) -> str:
    """Like :func:`escape` but a newline stays a newline (multi-line text of ours)."""
    return UNSAFE_KEEP_NEWLINE.sub(_visible, text) if UNSAFE_KEEP_NEWLINE.search(text) else text


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def safe_json(document: Any, **options: Any) -> str:
    """``json.dumps`` (UTF-8 text kept readable) with every unsafe character written as
    a ``\\uXXXX`` escape, so the document parses back to exactly the same data."""
    text = json.dumps(document, ensure_ascii=False, **options)
    return UNSAFE_KEEP_NEWLINE.sub(_json_escape, text) if UNSAFE.search(text) else text


_PLAIN_SAFE = re.compile(r"[A-Za-z0-9_./+\-][A-Za-z0-9_./+\- ]*")
_YAML_SPECIAL_WORDS = {"", "~", "null", "true", "false", "yes", "no", "on", "off", "y", "n"}


def yaml_string(text: str) -> str:
    """``text`` as a YAML scalar that reads back as this same string: plain when that is
    unambiguous (``quiz.yaml``), else double-quoted with escapes (``"quiz #1.yaml"``,
    ``"week 3: backprop.yaml"``, control characters as ``\\x1b``)."""
    if (_PLAIN_SAFE.fullmatch(text) and not text.endswith(" ")
            and text.lower() not in _YAML_SPECIAL_WORDS and not _looks_numeric(text)
            and not text.startswith(("-", "./-"))):
        return text
    body = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + UNSAFE.sub(_yaml_escape, body) + '"'


def _yaml_escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def _looks_numeric(text: str) -> bool:
    try:
        float(text.replace("_", ""))
    except ValueError:
        return text[:1].isdigit()
    return True
