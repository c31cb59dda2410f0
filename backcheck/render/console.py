"""The consoles the CLI prints to, and how an error looks.

Text from files (names, titles, paths, answers, messages quoting them) is escaped where
the renderers build their ``Text`` (``backcheck.text.escape``), so tables keep their
widths. Under that, :class:`SafeConsole` is the net: no segment of text reaches the
terminal with a control or bidi character in it, whatever a renderer forgot, and markup
in strings (``[red]`` in a path) is never read as style.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.console import Console, ConsoleOptions, RenderableType
from rich.segment import Segment
from rich.text import Text

from ..errors import BackcheckError
from ..text import UNSAFE_KEEP_NEWLINE, escape, escape_keep_newlines


class SafeConsole(Console):
    """A rich console that escapes control and bidi characters in every text segment
    (rich's own styling travels in segment styles and control segments, untouched)."""

    def __init__(self, **options: Any) -> None:
        options.setdefault("markup", False)
        options.setdefault("highlight", False)
        options.setdefault("emoji", False)
        super().__init__(**options)

    def render(self, renderable: RenderableType,
               options: ConsoleOptions | None = None) -> Iterable[Segment]:
        for segment in super().render(renderable, options):
            if segment.control or not UNSAFE_KEEP_NEWLINE.search(segment.text):
                yield segment
            else:
                yield Segment(escape_keep_newlines(segment.text), segment.style)


stdout = SafeConsole(soft_wrap=False)
stderr = SafeConsole(stderr=True, soft_wrap=True)


def error_text(error: BackcheckError) -> Text:
    text = Text()
    text.append("error: ", style="bold red")
    text.append(f"{escape(error.where)}: ", style="bold")
    text.append(escape(error.message))
    if error.hint:
        text.append("\n  hint: ", style="dim")
        text.append(escape(error.hint), style="dim")
    return text
