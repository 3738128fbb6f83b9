"""Reading an ``.npz`` without trusting it: checkpoints and the CLI's input files.

``np.load`` would block forever on a FIFO, unpack every member of a zip bomb,
and allocate whatever shape a ``.npy`` header declares. ``read_npz`` instead

1. opens only a regular file (``ir.files.open_regular``: a FIFO is refused, never waited on);
2. sums the uncompressed sizes the zip directory declares, and refuses them
   over the memory limit before reading any member;
3. reads each member's ``.npy`` header first and refuses a shape that needs
   more bytes than the member holds (or an object dtype, which needs pickle);
4. reads the data into an array of exactly that size.

A member that is not a ``.npy`` file comes back as its bytes (as ``np.load``
hands it back), so a caller can name it. A file that is missing or not a
regular file raises ``ReadError`` (naming it); a refusal of its contents raises
``NpzRefused``, whose message reads after the file name: ``ck.npz: its members
would unpack to 3.0 GiB...``.
"""
from __future__ import annotations

import zipfile
from typing import Dict, Union

import numpy as np

from ...ir.files import open_regular
from ...runtime.limits import human, memory_limit


class NpzRefused(ValueError):
    """The file's contents are not ones to read (a zip bomb, a header that lies)."""


def _member(z: zipfile.ZipFile, info: zipfile.ZipInfo) -> np.ndarray:
    fmt = np.lib.format
    with z.open(info) as f:
        major, _ = fmt.read_magic(f)
        read_header = fmt.read_array_header_1_0 if major == 1 else fmt.read_array_header_2_0
        shape, fortran, dtype = read_header(f)
        key = info.filename[:-4]
        if dtype.hasobject:
            raise NpzRefused(f"member {key} holds Python objects (dtype {dtype}), which need pickle")
        count = int(np.prod(shape, dtype=object))
        nbytes = count * dtype.itemsize
        if nbytes > info.file_size:
            raise NpzRefused(f"member {key} declares {dtype}{list(shape)} ({human(nbytes)}) but holds only "
                             f"{info.file_size:,d} bytes")
        arr = np.empty(count, dtype)
        view, got = memoryview(arr.view(np.uint8)) if nbytes else memoryview(b""), 0
        while got < nbytes:  # in chunks: no second copy of a large member
            n = f.readinto(view[got:got + (1 << 20)])
            if not n:
                raise NpzRefused(f"member {key} ended after {got:,d} of {nbytes:,d} bytes")
            got += n
    return arr.reshape(shape[::-1]).T if fortran else arr.reshape(shape)


def read_npz(path: str, what: str = "file") -> Dict[str, Union[np.ndarray, bytes]]:
    """``{name: array}`` of the ``.npz`` at ``path`` (see the module docstring for the checks);
    ``what`` names the file in the ``ReadError`` of a missing one (``no such checkpoint``)."""
    with open_regular(path, what=what) as f:
        head = f.read(4)
        if head[:2] != b"PK":
            raise ValueError(f"it is not a zip archive (an .npz file starts with b'PK', this one with {head!r})")
        f.seek(0)
        with zipfile.ZipFile(f) as z:
            infos = z.infolist()
            total, limit = sum(i.file_size for i in infos), memory_limit()
            if total > limit:
                raise NpzRefused(f"its members would unpack to {human(total)}, over the memory limit of "
                                 f"{human(limit)} (CHAINRULE_MEMORY_LIMIT)")
            out: Dict[str, Union[np.ndarray, bytes]] = {}
            for info in infos:
                if info.filename.endswith(".npy"):
                    out[info.filename[:-4]] = _member(z, info)
                else:
                    out[info.filename] = z.read(info)
            return out
