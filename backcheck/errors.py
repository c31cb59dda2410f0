"""The one user-facing error type.

Everything that is the user's fault (a bad file, a bad option, a bad answer sheet)
becomes a :class:`BackcheckError` carrying where it happened. The CLI prints it as one
line and exits 2; nothing else ever reaches the user as a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mark:
    """A position in a file: 1-based line and column."""

    line: int
    column: int


#: a message longer than this (only a huge value quoted from a file makes one) is cut in
#: the middle, so that an error stays one readable line
MAX_MESSAGE_CHARS = 1000


def quoted(value: object, limit: int = 60) -> str:
    """``repr`` of a value from a file, cut to ``limit`` characters (a 2 MB key or name
    must not make a 2 MB error message)."""
    text = str(value)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return repr(text)


def _cut(text: str | None) -> str | None:
    if text is None or len(text) <= MAX_MESSAGE_CHARS:
        return text
    return text[: MAX_MESSAGE_CHARS - 200] + " … " + text[-150:]


class BackcheckError(Exception):
    """A problem with the user's input, reported as ``file:line:column: message``."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        mark: Mark | None = None,
        hint: str | None = None,
    ) -> None:
        message = _cut(message) or ""
        super().__init__(message)
        self.message = message
        self.file = file
        self.mark = mark
        self.hint = _cut(hint)

    def located(self, file: str | None = None, mark: Mark | None = None) -> BackcheckError:
        """Fill in the file and position if they are not known yet (returns self)."""
        if self.file is None and file is not None:
            self.file = file
        if self.mark is None and mark is not None:
            self.mark = mark
        return self

    @property
    def where(self) -> str:
        parts = [self.file or "<input>"]
        if self.mark is not None:
            parts.append(str(self.mark.line))
            parts.append(str(self.mark.column))
        return ":".join(parts)

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class InternalError(Exception):
    """A bug in backcheck itself (e.g. the exact and float evaluators disagree)."""
