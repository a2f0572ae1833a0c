"""The C allocator's policy for freed memory, chosen once per process: keep it (pretraining) or give it back
(tracking).

glibc serves blocks above its mmap threshold with a fresh ``mmap`` and unmaps them on free; below it, freed
blocks stay in the heap. The threshold moves up by itself (to 32 MiB) once a large block is freed.

- Pretraining frees and re-allocates big activation buffers every step: with the threshold at 1 GiB glibc
  reuses them instead of page-faulting them in again (measured on the 2-core machine: ~40% of the time
  was in the kernel, 1.48 -> 0.87 s/iteration, one thread).
- Tracking allocates a few MB per frame, and more on the first frame (its whole-image map, 5,500 samples).
  Kept at 1 GiB, that stays resident for the whole run (63 MB of a Crossing run's 406 MB were free heap).
  A 256 KiB threshold returns it but page-faults every per-frame buffer in again (11,300 minor faults a
  frame against 49); 16 MiB keeps per-frame buffers in the heap (262 faults a frame), and
  :func:`release_free_memory`, after the first frame and every ``long_interval`` frames, hands the heap's
  free pages back (Crossing, 150 frames: 369 MB resident against 433 kept).

Elsewhere than glibc this does nothing.
"""

from __future__ import annotations

import ctypes
import functools

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
_chosen: list[str] = []  # the policy this process runs under, once chosen


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """The C library this process already runs on (None where it cannot be opened)."""
    try:
        return ctypes.CDLL(None)
    except OSError:
        return None


def _choose(policy: str, mmap_bytes: int, trim_bytes: int) -> bool:
    """True when ``policy`` is the process's (the first call chooses); False when glibc refused or another won."""
    if _chosen:
        return _chosen[0] == policy
    _chosen.append(policy)
    mallopt = getattr(_libc(), "mallopt", None)
    if mallopt is None:
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, mmap_bytes)) and bool(mallopt(M_TRIM_THRESHOLD, trim_bytes))


def keep_freed_memory() -> bool:
    return _choose("keep", 1 << 30, 2 << 30)


def return_freed_memory() -> bool:
    return _choose("return", 16 << 20, 32 << 20)


def release_free_memory() -> bool:
    """Give the heap's free pages back to the OS now (glibc's ``malloc_trim``); a few ms."""
    malloc_trim = getattr(_libc(), "malloc_trim", None)
    if _chosen[:1] == ["keep"] or malloc_trim is None:
        return False
    return bool(malloc_trim(0))
