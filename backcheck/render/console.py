"""The consoles the CLI prints to, and how an error looks."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from ..errors import BackcheckError

stdout = Console(highlight=False, soft_wrap=False)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)


def error_text(error: BackcheckError) -> Text:
    text = Text()
    text.append("error: ", style="bold red")
    text.append(f"{error.where}: ", style="bold")
    text.append(error.message)
    if error.hint:
        text.append("\n  hint: ", style="dim")
        text.append(error.hint, style="dim")
    return text
