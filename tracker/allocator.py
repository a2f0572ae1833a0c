"""The C allocator's policy for freed memory, chosen once per process: keep it (pretraining) or give it back
(tracking).

glibc serves blocks above its mmap threshold with a fresh ``mmap`` and unmaps them on free; below it, freed
blocks stay in the heap. The threshold moves up by itself (to 32 MiB) once a large block is freed.

- Pretraining frees and re-allocates big activation buffers every step: with the threshold at 1 GiB glibc
  reuses them instead of page-faulting them in again (measured on the 2-core machine: ~40% of the time
  was in the kernel, 1.48 -> 0.87 s/iteration, one thread).
- Tracking allocates little per frame, but the first frame's whole-image map and the periodic updates' sample
  sets are large and short-lived; kept, they stay resident for the whole run (63 MB of a Crossing run's
  406 MB were free heap). A fixed 256 KiB threshold returns them.

Elsewhere than glibc this does nothing.
"""

from __future__ import annotations

import ctypes

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
_chosen: list[str] = []  # the policy this process runs under, once chosen


def _choose(policy: str, mmap_bytes: int, trim_bytes: int) -> bool:
    """True when ``policy`` is the process's (the first call chooses); False when glibc refused or another won."""
    if _chosen:
        return _chosen[0] == policy
    _chosen.append(policy)
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library this process already runs on
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, mmap_bytes)) and bool(mallopt(M_TRIM_THRESHOLD, trim_bytes))


def keep_freed_memory() -> bool:
    return _choose("keep", 1 << 30, 2 << 30)


def return_freed_memory() -> bool:
    return _choose("return", 256 << 10, 1 << 20)
