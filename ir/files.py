"""Writing files safely: atomically, never through a symbolic link, naming the file on failure.

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
import tempfile
from typing import Callable, Optional, Union

from .errors import WriteError

MARKER = ".chainrule-dump"


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
