"""Assemble a tracker from a config and a weights choice."""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

import torch

from tracker.allocator import keep_freed_memory
from tracker.backbone import Backbone, channels_of, load_weights
from tracker.config import TrackerConfig
from tracker.mdnet import MDNetTracker

PRETRAINED_DIR = Path(__file__).resolve().parent.parent / "pretrained"
DEFAULT_WEIGHTS = PRETRAINED_DIR / "default.pt"


def resolve_weights(weights: str | None) -> Path | None:
    """``None`` -> the shipped default if present; ``"none"`` -> random backbone; else a path."""
    if weights is None:
        return DEFAULT_WEIGHTS if DEFAULT_WEIGHTS.is_file() else None
    if weights.lower() == "none":
        return None
    return Path(weights)


@functools.cache
def load_optimizer_machinery() -> None:
    """torch imports its compiler stack (about 1 s) when the first optimizer is made; pay that once
    while building, so it is not charged to a sequence's first frame (in init, via Updater.start)."""
    torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.0, fused=True)


def build_tracker(config: TrackerConfig, weights: str | None = None, warn: bool = True) -> MDNetTracker:
    """An MDNet tracker; the backbone width comes from the weights file, else from the config.

    ``warn=False`` drops the random-backbone warning (benchmarks that report the weights themselves).
    """
    keep_freed_memory()  # process-wide; frees the tracker's per-frame buffers from page-faulting
    load_optimizer_machinery()
    path = resolve_weights(weights)
    fc_state = None
    if path is None:
        if warn:
            warnings.warn(f"no pretrained weights: using a random backbone (seed {config.seed})", stacklevel=2)
        backbone = Backbone(config.backbone_channels)
        backbone.init_random(torch.Generator().manual_seed(config.seed))
    else:
        state = load_weights(path)
        backbone = Backbone(channels_of(state))
        backbone.load_state_dict({k: v for k, v in state.items() if k.startswith("conv")})
        fc_state = {k: v for k, v in state.items() if k.startswith("fc")} or None
        if fc_state and fc_state["fc4.weight"].shape[0] != config.fc_width:
            config = config.replace(fc_width=int(fc_state["fc4.weight"].shape[0]))
    return MDNetTracker(config, backbone, fc_state)
