"""Per-frame latency, the figure a live user feels: median, p95, max and the share of frames over budget,
for the frames after the first, also split into frames the tracker judged tracked or lost."""

from __future__ import annotations

import numpy as np

PARTS = ("all", "tracked", "lost")
# the latency target (25 fps): reports count the frames over it; the speed harness takes --frame-budget-ms
FRAME_BUDGET_MS = 40.0


def frame_latency(seconds: np.ndarray, lost: np.ndarray, budget_ms: float = FRAME_BUDGET_MS) -> dict:
    """Latency of tracked frames (not the first: its training is reported on its own), per part."""
    ms = 1000 * np.asarray(seconds, dtype=float)
    lost = np.asarray(lost, dtype=bool)
    if len(ms) != len(lost):
        raise ValueError(f"expected as many frame times as lost flags, got {len(ms)} and {len(lost)}")
    report: dict = {"budget_ms": float(budget_ms)}
    for part, chosen in zip(PARTS, (np.ones(len(ms), bool), ~lost, lost)):
        picked = ms[chosen]
        report[part] = {"frames": int(len(picked)), **({
            "median_ms": float(np.median(picked)), "p95_ms": float(np.percentile(picked, 95)),
            "max_ms": float(picked.max()), "over_budget": float((picked > budget_ms).mean()),
        } if len(picked) else {"median_ms": None, "p95_ms": None, "max_ms": None, "over_budget": None})}
    return report


def latency_report(seconds: np.ndarray, lost: np.ndarray, budget_ms: float = FRAME_BUDGET_MS) -> dict:
    """``seconds`` and ``lost`` for every frame of a run, the first (``init``) included."""
    if not len(seconds):
        raise ValueError("no frames")
    return {"first_frame_ms": 1000 * float(seconds[0]), **frame_latency(seconds[1:], lost[1:], budget_ms)}
