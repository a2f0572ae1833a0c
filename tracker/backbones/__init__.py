"""Backbones by the name used in configs and on the command line, and how each is built."""

from __future__ import annotations

from tracker.backbones.base import Backbone
from tracker.backbones.efficientnet_lite0 import EfficientNetLite0
from tracker.backbones.mdnet import MDNetBackbone
from tracker.backbones.nanotrack import NanoTrackTrunk
from tracker.backbones.weights import WeightsFile, load_into, read_weights, save_weights
from tracker.errors import TrackerError, quoted

BACKBONES: dict[str, type[Backbone]] = {cls.name: cls for cls in (MDNetBackbone, EfficientNetLite0, NanoTrackTrunk)}
TRAINABLE_BACKBONES = ("efficientnet_lite0", "mdnet")  # what pretraining and weights files take


def backbone_from_settings(name: str, settings: dict) -> Backbone:
    """An empty backbone of the layout a weights file (or a config) describes."""
    if name not in BACKBONES:
        raise TrackerError(f"unknown backbone {quoted(name)}; choose from {sorted(BACKBONES)}")
    try:
        return BACKBONES[name].from_settings(settings)
    except (KeyError, TypeError, ValueError):
        raise TrackerError(f"backbone {name}: bad settings {quoted(settings)}") from None


def load_backbone(weights: WeightsFile) -> Backbone:
    backbone = backbone_from_settings(weights.backbone, weights.settings)
    load_into(backbone, weights)
    return backbone


__all__ = ["BACKBONES", "TRAINABLE_BACKBONES", "Backbone", "EfficientNetLite0", "MDNetBackbone", "NanoTrackTrunk",
           "WeightsFile", "backbone_from_settings", "load_backbone", "read_weights", "save_weights"]
