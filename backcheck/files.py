"""Writing files safely: never clobber a user's file, never leave half a file behind."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable

from .errors import BackcheckError


def check_writable(paths: Iterable[str], *, force: bool) -> None:
    """Refuse, before anything is written, if any target exists and ``force`` is off."""
    existing = [p for p in paths if os.path.exists(p)]
    if existing and not force:
        shown = ", ".join(existing)
        raise BackcheckError(
            f"will not overwrite existing file{'s' if len(existing) > 1 else ''}: {shown}",
            file=existing[0],
            hint="pass --force to overwrite, or choose another name with -o",
        )
    for path in paths:
        if os.path.isdir(path):
            raise BackcheckError("is a directory", file=path)
        parent = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(parent):
            raise BackcheckError("the folder to write into does not exist", file=path)


def write_atomic(path: str, content: str | bytes) -> None:
    """Write text (UTF-8) or bytes to ``path`` via a temporary file and a rename
    (all or nothing)."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    directory = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".backcheck-", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
