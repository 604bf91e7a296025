"""Atomic, checksummed ``.npy`` arrays on disk.

An entry is two files: ``NAME.npy`` (memory-mappable) and ``NAME.json`` (shape, dtype, SHA-256 of the
``.npy`` file, and free-form provenance).  Both are written to a temporary name and renamed into place,
the ``.json`` last, so a crash mid-write never leaves an entry that looks complete.  On load the
checksum is recomputed: a truncated or corrupt file is reported (a warning naming the file) and
rebuilt, never silently used.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

_CHUNK = 1 << 24  # 16 MiB per read while hashing


class CorruptCacheWarning(UserWarning):
    """A cache entry failed its checks and is being rebuilt."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _paths(folder: Path, name: str) -> tuple[Path, Path]:
    return folder / f"{name}.npy", folder / f"{name}.json"


def check_entry(folder: Path, name: str) -> str | None:
    """Why the entry ``name`` in ``folder`` cannot be used, or None if it is complete and intact."""
    array_path, meta_path = _paths(folder, name)
    if not meta_path.exists() and not array_path.exists():
        return "missing"
    if not meta_path.exists():
        return f"{meta_path.name} is missing (an interrupted write?)"
    try:
        meta = json.loads(meta_path.read_text())
        expected = meta["sha256"]
    except (json.JSONDecodeError, KeyError) as err:
        return f"{meta_path} does not parse ({err})"
    if not array_path.exists():
        return f"{array_path} is missing"
    actual = sha256_file(array_path)
    if actual != expected:
        return f"{array_path} fails its checksum (sha256 {actual[:12]}…, expected {expected[:12]}…)"
    return None


def write_entry(folder: Path, name: str, array: np.ndarray, provenance: dict | None = None) -> None:
    """Write ``array`` as entry ``name`` atomically (temp files + rename, metadata last)."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp_array = folder / f".{name}.{os.getpid()}.tmp.npy"
    np.save(tmp_array, array)
    finish_entry(folder, name, tmp_array, provenance)


def finish_entry(folder: Path, name: str, tmp_array: Path, provenance: dict | None = None) -> None:
    """Move a fully written temporary ``.npy`` into place as entry ``name`` and write its metadata."""
    array_path, meta_path = _paths(folder, name)
    meta_path.unlink(missing_ok=True)  # the entry is incomplete from here until the rename below
    header = np.load(tmp_array, mmap_mode="r")
    meta = {
        "shape": list(header.shape),
        "dtype": str(header.dtype),
        "sha256": sha256_file(tmp_array),
        "provenance": provenance or {},
    }
    del header
    os.replace(tmp_array, array_path)
    tmp_meta = folder / f".{name}.{os.getpid()}.tmp.json"
    tmp_meta.write_text(json.dumps(meta, indent=2))
    os.replace(tmp_meta, meta_path)


def load_or_build(
    folder: Path,
    name: str,
    build: Callable[[Path], None],
    provenance: dict | None = None,
) -> np.ndarray:
    """Memory-map entry ``name``; if it is missing or fails its checks, rebuild it first.

    ``build(tmp_path)`` must write a complete ``.npy`` file at ``tmp_path`` (it may memory-map it
    while filling it in).  A corrupt entry is reported with a :class:`CorruptCacheWarning` naming the
    file and the reason, then rebuilt.
    """
    problem = check_entry(folder, name)
    if problem is not None:
        if problem != "missing":
            warnings.warn(
                f"cache entry '{name}' in {folder} is unusable: {problem}; rebuilding it",
                CorruptCacheWarning,
                stacklevel=2,
            )
        folder.mkdir(parents=True, exist_ok=True)
        tmp_array = folder / f".{name}.{os.getpid()}.tmp.npy"
        try:
            build(tmp_array)
            finish_entry(folder, name, tmp_array, provenance)
        finally:
            tmp_array.unlink(missing_ok=True)
    return np.load(_paths(folder, name)[0], mmap_mode="r")
