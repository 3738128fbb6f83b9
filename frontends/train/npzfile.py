"""Reading an ``.npz`` without trusting it: checkpoints and the CLI's input files.

``np.load`` would block forever on a FIFO, unpack every member of a zip bomb,
and allocate whatever shape a ``.npy`` header declares. ``read_npz`` instead

1. opens only a regular file (``ir.files.open_regular``: a FIFO is refused, never waited on);
2. sums the uncompressed sizes the zip directory declares, and refuses them
   over the memory limit before reading any member;
3. reads every member's ``.npy`` header first and refuses a shape that needs
   more bytes than the member holds (or an object dtype, which needs pickle);
4. hands the headers to the caller's ``check``, which may refuse the file or
   name the members it wants, before any member's data is read;
5. reads the data into an array of exactly that size.

A member that is not a ``.npy`` file comes back as its bytes (as ``np.load``
hands it back), so a caller can name it. A file that is missing or not a
regular file raises ``ReadError`` (naming it); a refusal of its contents raises
``NpzRefused``, whose message reads after the file name: ``ck.npz: its members
would unpack to 3.0 GiB...``.
"""
from __future__ import annotations

import zipfile
from typing import Callable, Dict, Iterable, NamedTuple, Optional, Union

import numpy as np

from ...ir.files import open_regular
from ...runtime.limits import human, memory_limit


class NpzRefused(ValueError):
    """The file's contents are not ones to read (a zip bomb, a header that lies)."""


class Header(NamedTuple):
    """What a member's ``.npy`` header declares."""
    dtype: np.dtype
    shape: tuple
    fortran: bool

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=object)) * self.dtype.itemsize


def _header(f, info: zipfile.ZipInfo) -> Header:
    fmt = np.lib.format
    major, _ = fmt.read_magic(f)
    read_header = fmt.read_array_header_1_0 if major == 1 else fmt.read_array_header_2_0
    shape, fortran, dtype = read_header(f)
    key = info.filename[:-4]
    if dtype.hasobject:
        raise NpzRefused(f"member {key} holds Python objects (dtype {dtype}), which need pickle")
    h = Header(dtype, tuple(shape), bool(fortran))
    if h.nbytes > info.file_size:
        raise NpzRefused(f"member {key} declares {dtype}{list(shape)} ({human(h.nbytes)}) but holds only "
                         f"{info.file_size:,d} bytes")
    return h


def _member(z: zipfile.ZipFile, info: zipfile.ZipInfo, checked: Header) -> np.ndarray:
    with z.open(info) as f:
        h = _header(f, info)
        if h != checked:  # the file changed under us since its headers were checked
            raise NpzRefused(f"member {info.filename[:-4]} changed while it was read")
        arr = np.empty(int(np.prod(h.shape, dtype=object)), h.dtype)
        view, got = memoryview(arr.view(np.uint8)) if h.nbytes else memoryview(b""), 0
        while got < h.nbytes:  # in chunks: no second copy of a large member
            n = f.readinto(view[got:got + (1 << 20)])
            if not n:
                raise NpzRefused(f"member {info.filename[:-4]} ended after {got:,d} of {h.nbytes:,d} bytes")
            got += n
    return arr.reshape(h.shape[::-1]).T if h.fortran else arr.reshape(h.shape)


#: ``check(headers, load)``: ``headers`` is ``{name: Header}`` (None for a member that is not ``.npy``),
#: ``load(name)`` reads one member now (e.g. metadata to look at first); returns the names to read
#: (None: all), or raises to refuse the file
Check = Callable[[Dict[str, Optional["Header"]], Callable[[str], object]], Optional[Iterable[str]]]


def read_npz(path: str, what: str = "file", check: Optional[Check] = None) -> Dict[str, Union[np.ndarray, bytes]]:
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
            heads: Dict[str, Optional[Header]] = {}
            for info in infos:
                npy = info.filename.endswith(".npy")
                key = info.filename[:-4] if npy else info.filename
                if key in heads:
                    raise NpzRefused(f"member {key} appears twice")
                heads[key] = None
                if npy:
                    with z.open(info) as m:
                        heads[key] = _header(m, info)
            info_of = {(i.filename[:-4] if i.filename.endswith(".npy") else i.filename): i for i in infos}
            out: Dict[str, Union[np.ndarray, bytes]] = {}

            def load(key):
                if key not in out:
                    info = info_of[key]
                    out[key] = z.read(info) if heads[key] is None else _member(z, info, heads[key])
                return out[key]
            wanted = check(heads, load) if check is not None else None
            for key in (heads if wanted is None else wanted):
                load(key)
            return {k: out[k] for k in heads if k in out}  # in the file's order
