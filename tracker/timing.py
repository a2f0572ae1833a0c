"""Wall time per tracking phase, accumulated over a run."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

PHASES = ("features", "scoring", "updates", "bbreg", "redetect")


class PhaseTimer:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    @contextmanager
    def __call__(self, phase: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[phase] += time.perf_counter() - start

    def as_dict(self) -> dict[str, float]:
        return {phase: self.seconds.get(phase, 0.0) for phase in PHASES}
