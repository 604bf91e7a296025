"""Checked device selection (asking for CUDA on a machine without it is a clear error, not a fallback),
how the CPU treats denormal floats, and in which precision CUDA runs float32 matmuls."""

from __future__ import annotations

import platform
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

VALID_DEVICES = ("cpu", "cuda")


def resolve_device(name: str) -> torch.device:
    """``torch.device`` for ``'cpu'``, ``'cuda'`` or ``'cuda:N'``, after checking it exists here."""
    text = str(name).strip().lower()
    if text.split(":")[0] not in VALID_DEVICES:
        raise ValueError(f"unknown device {name!r}; use 'cpu' or 'cuda' (optionally 'cuda:N')")
    if text.startswith("cuda"):
        if not torch.cuda.is_available():
            raise RuntimeError(
                f"device {name!r} requested but CUDA is not available to this torch "
                f"({torch.__version__}); use --device cpu, or install a CUDA build of torch on a GPU machine"
            )
        index = torch.device(text).index or 0
        if index >= torch.cuda.device_count():
            raise RuntimeError(
                f"device {name!r} requested but only {torch.cuda.device_count()} GPU(s) are visible"
            )
    return torch.device(text)


def cpu_model() -> str:
    """The processor's model name (Linux: /proc/cpuinfo), else the machine type."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def denormals_flushed() -> tuple[bool, bool]:
    """Whether float32 denormals are flushed to zero (FTZ/DAZ): (in this thread, in every intra-op thread).

    ``torch.set_flush_denormal`` sets the flag of the calling thread only; intra-op worker threads
    inherit it only when they are started after it (the OpenMP pool starts at the first parallel
    op), so the only way to know is to look.  The probe is built from bits (the smallest denormal,
    1.4e-45), because converting a Python float would itself be flushed, and doubled: one element
    on this thread, and 2^20 of them, which torch splits across its threads.
    """
    one = torch.ones(1, dtype=torch.int32).view(torch.float32) * 2.0
    many = torch.ones(1 << 20, dtype=torch.int32).view(torch.float32) * 2.0
    return bool(one[0] == 0), bool((many == 0).all())


@contextmanager
def cuda_fp32_precision(device: torch.device, tf32: bool) -> Iterator[None]:
    """Inside: float32 matmuls and cuDNN convolutions on a CUDA ``device`` in TF32 (``tf32``) or in
    IEEE float32; the previous settings are restored on exit, also after an error.

    TF32 rounds the inputs of a product to a 10-bit mantissa (~1e-3 relative): several times
    faster on an H100/H200 and fine for training, wrong for exact comparisons such as ranking
    near-tied neighbours.  On any other device this does nothing.
    """
    if torch.device(device).type != "cuda":
        yield
        return
    settings = (torch.backends.cuda.matmul, torch.backends.cudnn.conv)
    previous = [setting.fp32_precision for setting in settings]
    for setting in settings:
        setting.fp32_precision = "tf32" if tf32 else "ieee"
    try:
        yield
    finally:
        for setting, value in zip(settings, previous, strict=True):
            setting.fp32_precision = value
