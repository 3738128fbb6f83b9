"""Reading and writing the user's files safely.

Every file chainrule reads because a user named it (IR text, ONNX models and
their external data, ``.npz`` inputs and checkpoints, datasets, model
scripts) is opened by ``open_regular``: a FIFO, a device, a socket or a
folder is refused with a ``ReadError`` naming it, at once, instead of
blocking forever on a FIFO nobody writes to. The file is checked with
``stat`` before it is opened (a device is never opened) and again with
``fstat`` on the open descriptor, opened non-blocking, so nothing swapped in
between is read.

Writing is atomic, never through a symbolic link, and names the file on failure.
Every file chainrule writes (IR dumps, reports, pictures, ``.npz`` outputs,
checkpoints) goes through ``write_file``. It writes to a fresh temporary file
in the target's folder (``mkstemp`` creates it exclusively, so a link planted
under that name is never followed), then renames it over the target with
``os.replace``, which swaps the directory entry and never writes through a
link. A crash or a full disk leaves the old file or none, never a 0-byte or
half-written one, and the ``WriteError`` names the file.

A dump folder holds a marker file (``MARKER``). ``prepare_dump_dir`` refuses
a folder that holds other files but no marker, unless forced, so a dump never
overwrites a user's ``report.html``; ``write_in`` writes only plain names
inside the folder.
"""
from __future__ import annotations

import os
import stat
import tempfile
from typing import IO, Callable, Optional, Union

from .errors import ReadError, WriteError

MARKER = ".chainrule-dump"


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a device"


def open_regular(path: str, text: bool = False, what: str = "file", encoding: str = "utf-8",
                 newline: Optional[str] = None) -> IO:
    """``path`` opened for reading (binary, or ``text`` in ``encoding``) if it is a regular file,
    else a ``ReadError``: ``x.npz: no such file``, ``x.npz: is not a regular file (it is a FIFO)``.
    ``what`` names the kind of file in the first message (``ck.npz: no such checkpoint``)."""
    fd = None
    try:
        st_mode = os.stat(path).st_mode
        if stat.S_ISREG(st_mode):  # anything else is refused before it is opened: a device never is
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
            st_mode = os.fstat(fd).st_mode  # what was opened, in case the name changed since the stat
    except FileNotFoundError:
        raise ReadError(f"{path}: no such {what}") from None
    except (OSError, ValueError) as err:  # ValueError: a NUL in the name
        if fd is not None:
            os.close(fd)
        raise ReadError(f"{path}: cannot read: {getattr(err, 'strerror', None) or err}") from None
    if not stat.S_ISREG(st_mode):
        if fd is not None:
            os.close(fd)
        raise ReadError(f"{path}: is not a regular file (it is {_kind(st_mode)})")
    try:
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)  # O_NONBLOCK only served the open; reads of a regular file block anyway
        return os.fdopen(fd, "r" if text else "rb", encoding=encoding if text else None, newline=newline)
    except BaseException:
        os.close(fd)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_file(path: str, data: Union[str, bytes, None] = None, writer: Optional[Callable] = None,
               fsync: bool = False) -> str:
    """Write ``data`` (text is UTF-8 with ``\\n`` line ends), or call ``writer(binary file)``,
    to ``path`` atomically; returns ``path``."""
    if os.path.islink(path):
        raise WriteError(f"{path} is a symbolic link; refusing to write through it (remove it first)")
    folder = os.path.dirname(os.path.abspath(path))
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
        with os.fdopen(fd, "wb") as f:
            if writer is not None:
                writer(f)
            else:
                f.write(data.encode("utf-8") if isinstance(data, str) else data)
            f.flush()
            if fsync:
                os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
        tmp = None
    except OSError as err:
        raise WriteError(f"cannot write {path}: {err.strerror or err}") from err
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.remove(tmp)
    return path


def write_in(folder: str, name: str, data: Union[str, bytes]) -> str:
    """Write ``data`` to file ``name`` directly inside ``folder`` (never elsewhere)."""
    if not name or name in (".", "..") or os.path.basename(name) != name or (os.altsep and os.altsep in name):
        raise WriteError(f"{name!r} is not a plain file name; a dump writes only inside {folder}")
    return write_file(os.path.join(folder, name), data)


def prepare_dump_dir(folder: str, force: bool = False) -> str:
    """Make ``folder`` (or accept it) as a dump folder and put the marker in it. A folder that
    holds other files but no marker is refused unless ``force``."""
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise WriteError(f"{folder} exists and is not a folder; give a folder for the dump")
    try:
        os.makedirs(folder, exist_ok=True)
        entries = sorted(os.listdir(folder))
    except OSError as err:
        raise WriteError(f"cannot make dump folder {folder}: {err.strerror or err}") from err
    if entries and MARKER not in entries and not force:
        shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
        raise WriteError(f"{folder} holds other files ({len(entries)}: {shown}) and is not a chainrule dump folder "
                         f"(no {MARKER}); give a new or empty folder, or --force (force=True) to write into it")
    if MARKER not in entries:
        write_in(folder, MARKER, "a chainrule dump folder: chainrule dump may overwrite the files in it\n")
    return folder
