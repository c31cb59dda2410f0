"""Writing files safely: never clobber, never half-write, never replace what is not a file.

The rules (issue 15), in one place for every command that writes:

* Without ``--force`` a file is created with exclusive semantics: the content goes to a
  temporary file in the same folder, which is then *hard-linked* to its name (``link``
  fails if the name exists, atomically), so a file that appears between the check and
  the write is never replaced. A dangling symlink counts as existing.
* ``--force`` replaces only regular files (or a symlink to one, which is replaced, not
  followed): never a device node, a FIFO, a socket or a folder; the replaced file keeps
  its mode (and, as root, its owner).
* New files follow the umask (``0666 & ~umask``), like any other program's.
* A set of files (problem + sheet + key, ``new --count N``) is written all or nothing:
  every temporary file is written first, then all are put in place; a failure or an
  interrupt (Ctrl-C, SIGTERM, SIGHUP) on the way takes back what was put in place and
  removes every temporary file, so a rerun works.
* A failure to write (read-only folder, disk full, file too large) is one
  :class:`BackcheckError` naming the file: exit 2, never an internal error.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import signal
import stat
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import BinaryIO

from .errors import BackcheckError

TEMP_PREFIX = ".backcheck-"


def _umask() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # no /proc: read it the classic way (and put it back)
    os.umask(mask)
    return mask


def not_a_regular_file(mode: int) -> str | None:
    """What a path of this ``st_mode`` is when it is not a regular file ("a directory",
    "a device (or a terminal)", …); None for a regular file. Reading (a problem or sheet)
    and writing (never over anything but a regular file) refuse the same things."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device (or a terminal)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _existing(path: str) -> os.stat_result | None:
    """``lstat`` of ``path`` (a dangling symlink exists), or None."""
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise _write_error(path, error) from None


def _replaceable(path: str, found: os.stat_result) -> os.stat_result:
    """The stat of the regular file that ``--force`` may replace at ``path``, or an
    error saying what is there instead."""
    target = found
    if stat.S_ISLNK(found.st_mode):
        try:
            target = os.stat(path)
        except OSError:
            raise BackcheckError("will not replace a symbolic link that leads nowhere "
                                 "(or in a loop)", file=path) from None
    if not stat.S_ISREG(target.st_mode):
        raise BackcheckError(f"will not write over {not_a_regular_file(target.st_mode)}, even with "
                             "--force; only a regular file is ever replaced", file=path)
    return target


def check_name(path: str) -> None:
    """A name a file can have: not empty, no NUL byte, not a folder name."""
    if not path:
        raise BackcheckError("the output file name is empty", file="''",
                             hint="give a name, e.g. -o practice.yaml")
    if "\x00" in path:
        raise BackcheckError("a file name cannot contain a NUL byte", file=repr(path))
    if path.endswith(os.sep) or os.path.basename(path) in ("", ".", ".."):
        raise BackcheckError("is a directory, expected a file name", file=path)


def check_writable(paths: Iterable[str], *, force: bool) -> None:
    """Refuse, before anything is computed or written, what the write would refuse:
    an existing target without ``force``, anything but a regular file with it, a folder
    that does not exist."""
    paths = list(paths)
    for path in paths:
        check_name(path)
    existing = [p for p in paths if _existing(p) is not None]
    for path in existing:
        found = _existing(path)
        if found is not None and force:
            _replaceable(path, found)
        elif found is not None and stat.S_ISDIR(found.st_mode):
            raise BackcheckError("is a directory", file=path)
    if existing and not force:
        shown = ", ".join(existing)
        raise BackcheckError(
            f"will not overwrite existing file{'s' if len(existing) > 1 else ''}: {shown}",
            file=existing[0],
            hint="pass --force (-f) to overwrite, or choose another name with -o",
        )
    for path in paths:
        parent = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(parent):
            raise BackcheckError("the folder to write into does not exist", file=path)


def _write_error(path: str, error: OSError) -> BackcheckError:
    reasons = {
        errno.ENOSPC: "no space left on the device",
        errno.EDQUOT: "disk quota exceeded",
        errno.EFBIG: "file too large for this system's limits",
        errno.EROFS: "the file system is read-only",
        errno.EACCES: "permission denied",
        errno.EPERM: "operation not permitted",
        errno.ENOENT: "the folder to write into does not exist",
        errno.ENOTDIR: "a part of the path is not a folder",
        errno.ELOOP: "too many levels of symbolic links (a symlink loop)",
        errno.ENAMETOOLONG: "the file name is too long",
        errno.EISDIR: "is a directory",
    }
    reason = reasons.get(error.errno or 0, error.strerror or str(error))
    return BackcheckError(f"cannot write the file: {reason}", file=path)


@contextlib.contextmanager
def _interrupts_as_keyboard_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP during a write raise KeyboardInterrupt, so the cleanup runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    saved = {}
    for signum in (signal.SIGTERM, signal.SIGHUP):
        with contextlib.suppress(OSError, ValueError):
            saved[signum] = signal.signal(signum, interrupt)
    try:
        yield
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)


def _write_data(stream: BinaryIO, data: bytes) -> None:
    """The one place bytes are written (a test makes it fail as a full disk would)."""
    stream.write(data)


class _Pending:
    """One file of a set: its temporary copy, and how it was put in place."""

    def __init__(self, path: str, data: bytes) -> None:
        self.path = path
        self.data = data
        self.temporary: str | None = None
        self.inode: tuple[int, int] | None = None
        self.backup: str | None = None  # the replaced file, kept until the set is done
        self.placed = False

    def prepare(self, force: bool, umask: int) -> None:
        directory = os.path.dirname(os.path.abspath(self.path))
        found = _existing(self.path)
        mode = 0o666 & ~umask
        owner = None
        if found is not None:
            if not force:
                raise _exists(self.path)
            target = _replaceable(self.path, found)
            mode = stat.S_IMODE(target.st_mode) & 0o777  # never set-id bits on our text
            owner = (target.st_uid, target.st_gid)
        try:
            handle, self.temporary = tempfile.mkstemp(dir=directory, prefix=TEMP_PREFIX,
                                                      suffix=".tmp")
        except OSError as error:
            raise _write_error(self.path, error) from None
        try:
            with os.fdopen(handle, "wb") as stream:
                _write_data(stream, self.data)
                stream.flush()
                os.fchmod(stream.fileno(), mode)
                if owner is not None and os.geteuid() == 0:
                    with contextlib.suppress(OSError):
                        os.fchown(stream.fileno(), *owner)
                info = os.fstat(stream.fileno())
                self.inode = (info.st_dev, info.st_ino)
        except OSError as error:
            raise _write_error(self.path, error) from None

    def place(self, force: bool) -> None:
        assert self.temporary is not None
        found = _existing(self.path)
        if found is None or not force:
            self.placed = True  # undo checks the inode, so a failed link undoes nothing
            try:
                os.link(self.temporary, self.path)  # exclusive: fails if the name exists
            except FileExistsError:
                raise _exists(self.path) from None
            except OSError as error:
                if error.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
                    raise _write_error(self.path, error) from None
                self._create_exclusive()  # no hard links here (FAT, some FUSE): O_EXCL
            return
        _replaceable(self.path, found)  # checked again, just before the rename
        directory = os.path.dirname(os.path.abspath(self.path))
        with contextlib.suppress(OSError):
            if stat.S_ISREG(found.st_mode):
                backup = os.path.join(directory, f"{TEMP_PREFIX}{secrets.token_hex(8)}.old")
                os.link(self.path, backup)
                self.backup = backup
        self.placed = True
        try:
            os.replace(self.temporary, self.path)
        except OSError as error:
            raise _write_error(self.path, error) from None
        self.temporary = None

    def _create_exclusive(self) -> None:
        assert self.temporary is not None
        mode = stat.S_IMODE(os.stat(self.temporary).st_mode)
        try:
            handle = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                             mode)
        except FileExistsError:
            raise _exists(self.path) from None
        except OSError as error:
            raise _write_error(self.path, error) from None
        try:
            with os.fdopen(handle, "wb") as stream:
                stream.write(self.data)
                info = os.fstat(stream.fileno())
                self.inode = (info.st_dev, info.st_ino)
        except BaseException as error:
            with contextlib.suppress(OSError):
                os.unlink(self.path)
            if isinstance(error, OSError):
                raise _write_error(self.path, error) from None
            raise

    def undo(self) -> None:
        """Take back what was put in place (only if it is still ours)."""
        if self.placed:
            with contextlib.suppress(OSError):
                info = os.lstat(self.path)
                if (info.st_dev, info.st_ino) == self.inode:
                    if self.backup is not None:
                        os.replace(self.backup, self.path)
                        self.backup = None
                    else:
                        os.unlink(self.path)
            self.placed = False
        self.cleanup()

    def cleanup(self) -> None:
        for leftover in (self.temporary, self.backup):
            if leftover is not None:
                with contextlib.suppress(OSError):
                    os.unlink(leftover)
        self.temporary = self.backup = None


def _exists(path: str) -> BackcheckError:
    return BackcheckError("will not overwrite existing file", file=path,
                          hint="pass --force (-f) to overwrite, or choose another name with -o")


def write_files(files: Sequence[tuple[str, str | bytes]], *, force: bool = False) -> None:
    """Write every ``(path, content)`` (text as UTF-8) all or nothing, by the rules
    above. On any failure or interrupt nothing of the set is left: no new file, no
    temporary file, every replaced file as it was."""
    for path, _ in files:
        check_name(path)
    umask = _umask()
    pending = [_Pending(path, content.encode("utf-8") if isinstance(content, str) else content)
               for path, content in files]
    with _interrupts_as_keyboard_interrupt():
        try:
            for item in pending:
                item.prepare(force, umask)
            for item in pending:
                item.place(force)
        except BaseException:
            for item in reversed(pending):
                item.undo()
            raise
        for item in pending:
            item.cleanup()


def write_atomic(path: str, content: str | bytes, *, force: bool = False) -> None:
    """Write one file (text as UTF-8) all or nothing; see :func:`write_files`."""
    write_files([(path, content)], force=force)
