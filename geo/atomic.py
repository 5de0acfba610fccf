"""Write outputs atomically: a reader sees the old file (or folder) or the whole new one.

A file is written to a temporary file beside it and renamed onto it; a folder (a plan) is written
as a temporary folder beside it and exchanged with the old one in one step. An output named by a
symbolic link is written where the link points (the link stays a link): the target's contents
are replaced atomically, as a plain path's would be. Temporaries carry
the writer's process id: those of a process that no longer runs (killed, or out of disk) are
removed by the next writer. Every disk error names the path it happened at.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import secrets
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from quarterhour.geo.errors import InputError, QuarterhourError

if TYPE_CHECKING:
    from collections.abc import Iterator

TEMPORARY_SUFFIX = ".tmp"
"""The suffix of every temporary file and folder quarterhour writes."""

_RENAME_EXCHANGE = 2
"""``renameat2`` flag: swap two paths in one step (Linux 3.15+)."""


class OutputError(QuarterhourError):
    """An output cannot be written (no space, no permission ...); the message names the path."""


def _temporary_name(target: Path) -> Path:
    return target.with_name(
        f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}{TEMPORARY_SUFFIX}"
    )


def _owner_gone(temporary: Path) -> bool:
    """Whether the process that wrote a temporary no longer runs."""
    parts = temporary.name.split(".")
    try:
        pid = int(parts[-3])
    except (IndexError, ValueError):
        return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def remove_stale_temporaries(target: Path) -> int:
    """Remove the temporaries left beside ``target`` by writers that no longer run.

    Parameters
    ----------
    target
        A file or folder quarterhour writes.

    Returns
    -------
    int
        How many were removed.
    """
    removed = 0
    with contextlib.suppress(OSError):
        for temporary in target.parent.glob(f".{target.name}.*{TEMPORARY_SUFFIX}"):
            if _owner_gone(temporary):
                if temporary.is_dir():
                    shutil.rmtree(temporary, ignore_errors=True)
                else:
                    temporary.unlink(missing_ok=True)
                removed += 1
    return removed


def disk_error(path: Path, error: OSError) -> OutputError:
    """The error of a failed write, naming the path."""
    reason = error.strerror or str(error)
    if error.errno == errno.ENOSPC:
        reason = "no space left on the disk"
    return OutputError(f"{path}: cannot write ({reason})")


def followed(path: str | Path) -> Path:
    """``path``, or where it leads if it is a symbolic link (through every link, even dangling).

    Parameters
    ----------
    path
        An output file or folder.
    """
    path = Path(path)
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def check_output_file(path: str | Path) -> Path:
    """Check that ``path`` can be an output file before any work: not a folder, a writable place.

    Parameters
    ----------
    path
        The output file (a symbolic link: the file it points to).

    Returns
    -------
    Path
        The file that will be written (the link's target for a link).
    """
    path = followed(path)
    if path.is_dir():
        msg = f"{path}: is a folder, expected an output file name"
        raise InputError(msg)
    parent = path.parent
    existing = next((folder for folder in (parent, *parent.parents) if folder.exists()), None)
    if existing is None or not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        msg = f"{path}: cannot write here ({existing} is not a writable folder)"
        raise InputError(msg)
    return path


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it onto ``path`` only if the block succeeds.

    Parameters
    ----------
    path
        The output file.
    """
    path = check_output_file(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(path)
        temporary = _temporary_name(path)
        temporary.touch()
    except OSError as error:
        raise disk_error(path, error) from error
    # A new file gets the permissions a plain open() would give (mkstemp would make it 0600).
    umask = os.umask(0)
    os.umask(umask)
    temporary.chmod(0o666 & ~umask)
    try:
        yield temporary
        temporary.replace(path)
    except OSError as error:
        raise disk_error(path, error) from error
    finally:
        temporary.unlink(missing_ok=True)


def write_text(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")


def write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)


def _exchange(first: Path, second: Path) -> bool:
    """Swap two paths in one step where the system can (Linux ``renameat2``); else False."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_cwd = -100
    result = renameat2(at_cwd, os.fsencode(first), at_cwd, os.fsencode(second), _RENAME_EXCHANGE)
    if result != 0:
        code = ctypes.get_errno()
        if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
            return False
        raise OSError(code, os.strerror(code), str(second))
    return True


def check_output_folder(folder: str | Path, *, replaceable: frozenset[str]) -> Path:
    """Check that ``folder`` can be replaced by a new output folder, before any work.

    Parameters
    ----------
    folder
        The output folder.
    replaceable
        Names of the files the folder may hold to be replaced.

    Returns
    -------
    Path
        The folder that will be replaced (the link's target for a link).
    """
    folder = followed(folder)
    if folder.exists():
        if not folder.is_dir():
            msg = f"{folder}: exists and is not a folder"
            raise InputError(msg)
        foreign = sorted(entry.name for entry in folder.iterdir() if entry.name not in replaceable)
        if foreign:
            msg = (
                f"{folder}: holds other files ({', '.join(foreign[:5])}); a plan replaces its "
                "folder whole: give a new folder, or a plan folder, with -o"
            )
            raise InputError(msg)
    check_output_file(folder / "summary.json")
    return folder


@contextmanager
def atomic_folder(folder: str | Path, *, replaceable: frozenset[str]) -> Iterator[Path]:
    """Yield a temporary folder beside ``folder``; put it in ``folder``'s place if the block succeeds.

    A reader sees the old folder whole or the new one whole, never a mix of the two. A folder that
    holds anything but ``replaceable`` files is refused, so that no planner's own files are lost.

    Parameters
    ----------
    folder
        The output folder.
    replaceable
        Names of the files the folder may hold to be replaced (a plan's outputs and report).
    """
    folder = check_output_folder(folder, replaceable=replaceable)
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(folder)
        temporary = _temporary_name(folder)
        temporary.mkdir()
    except OSError as error:
        raise disk_error(folder, error) from error
    try:
        try:
            yield temporary
        except OutputError as error:  # name the file in its real place, not in the temporary
            raise OutputError(str(error).replace(str(temporary), str(folder))) from error
        except OSError as error:
            where = Path(str(error.filename or folder).replace(str(temporary), str(folder)))
            raise disk_error(where, error) from error
        if not folder.exists():
            temporary.rename(folder)
        elif _exchange(temporary, folder):
            shutil.rmtree(temporary)  # the old plan, now at the temporary's name
        else:
            old = _temporary_name(folder)
            folder.rename(old)
            temporary.rename(folder)
            shutil.rmtree(old, ignore_errors=True)
    except OSError as error:
        raise disk_error(folder, error) from error
    finally:
        if temporary.exists():
            shutil.rmtree(temporary, ignore_errors=True)
