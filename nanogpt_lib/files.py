"""Writing files so that a crash never leaves half of one: the one atomic-write helper every writer uses.

The new content goes to a temporary file in the same folder (`.NAME.<random>.tmp`), which is flushed,
fsynced and renamed over NAME. A rename within one folder is atomic, so readers see the old file or the
new one, never a mix; if anything fails, the temporary file is removed and the old file stays.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

TEMP_SUFFIX = ".tmp"


def temp_prefix(name: str) -> str:
    """Temporary files for `name` are called `.{name}.<random>.tmp` (so stale ones can be found again)."""
    return f".{name}."


def atomic_write(path: str | Path, write: Callable[[BinaryIO], None]) -> Path:
    """Call `write(f)` on a temp file beside `path`, fsync it, then rename it over `path`."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix(path.name), suffix=TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        if os.path.exists(tmp):
            os.remove(tmp)
        cause = os_error_in(e)
        if cause is not None:  # say which file could not be written, and why (the OS's reason, not a follow-on)
            raise OSError(cause.errno, cause.strerror, str(path)) from e
        raise
    _fsync_dir(path.parent)
    return path


def os_error_in(e: BaseException) -> OSError | None:
    """The operating system's error behind `e`, if any: `e` itself, or one it was raised while handling.

    A writer can hide the real reason: when the disk fills up in the middle of `torch.save`, its zip writer
    fails again while closing (a RuntimeError about an "unexpected pos") and that error replaces the OSError.
    Interrupts (Ctrl-C) are never translated.
    """
    seen = set()
    while isinstance(e, Exception) and id(e) not in seen:
        if isinstance(e, OSError) and e.errno is not None:
            return e
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return None


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """`atomic_write` for bytes already in memory."""
    return atomic_write(path, lambda f: f.write(data))


def atomic_write_text(path: str | Path, text: str) -> Path:
    """`atomic_write` for UTF-8 text."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def remove_stale_temps(folder: str | Path, names: tuple[str, ...]) -> list[Path]:
    """Delete temp files that `atomic_write` left for `names` when a process was killed mid-write.

    Only files matching `.NAME.*.tmp` for the given names are touched; returns what was removed.
    """
    folder = Path(folder)
    removed = []
    for name in names:
        for tmp in folder.glob(f"{temp_prefix(name)}*{TEMP_SUFFIX}"):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable (the directory entry itself), where the OS allows it."""
    try:
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
