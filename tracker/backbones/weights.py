"""Weights files: a backbone's tensors, optionally pretrained fc4/fc5, and which backbone they belong to.

Our format (``torch.save`` of a dict): ``format``, ``version``, ``backbone`` (its name),
``settings`` (what rebuilds it: channels, blocks), ``state_dict`` and ``meta`` (the pretraining
record). Version 1 files predate the backbone choice and hold the MDNet layout. py-MDNet's
published ``.pth`` files (``shared_layers``) load as the MDNet layout too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from tracker.backbones.base import Backbone
from tracker.errors import TrackerError, quoted
from tracker.limits import MAX_CHANNELS, SIZE_BOUNDS
from tracker.outputs import writing

WEIGHTS_FORMAT = "bdfa-tracker-weights"
VERSION = 2
# py-MDNet's ``shared_layers`` keys -> ours.
PY_MDNET_KEYS = {
    "layers.conv1.0.weight": "conv1.weight", "layers.conv1.0.bias": "conv1.bias",
    "layers.conv2.0.weight": "conv2.weight", "layers.conv2.0.bias": "conv2.bias",
    "layers.conv3.0.weight": "conv3.weight", "layers.conv3.0.bias": "conv3.bias",
    "layers.fc4.0.weight": "fc4.weight", "layers.fc4.0.bias": "fc4.bias",
    "layers.fc5.1.weight": "fc5.weight", "layers.fc5.1.bias": "fc5.bias",
}
FC_KEYS = ("fc4.weight", "fc4.bias", "fc5.weight", "fc5.bias")
KNOWN_BACKBONES = ("efficientnet_lite0", "mdnet")  # tracker.backbones.BACKBONES, which imports this module


@dataclass
class WeightsFile:
    path: Path
    backbone: str
    settings: dict
    conv: dict[str, torch.Tensor]
    fc: dict[str, torch.Tensor] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)


def existing_weights_file(path: str | Path) -> Path:
    """``path``, where it is a file: a folder or nothing there is one error line naming it."""
    path = Path(path)
    if path.is_dir():
        raise TrackerError(f"weights file {path} is a folder: give the .pt file in it")
    if not path.is_file():
        raise TrackerError(f"weights file not found: {path}")
    return path


def read_weights(path: str | Path) -> WeightsFile:
    """Our format or py-MDNet's; the tensors as floats, split into the backbone's and fc4/fc5."""
    path = existing_weights_file(path)
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a corrupt or foreign file
        raise TrackerError(f"weights file {path} could not be read: {type(exc).__name__}") from None
    if isinstance(blob, dict) and blob.get("format") == WEIGHTS_FORMAT:
        state = blob.get("state_dict")
        backbone, settings, meta = blob.get("backbone", "mdnet"), blob.get("settings"), blob.get("meta") or {}
    elif isinstance(blob, dict) and "shared_layers" in blob:
        shared = blob["shared_layers"]
        if not isinstance(shared, dict):
            raise TrackerError(f"weights file {path}: 'shared_layers' is not a state dict")
        unknown = sorted(k for k in shared if k not in PY_MDNET_KEYS)
        if unknown:
            raise TrackerError(f"weights file {path}: unexpected py-MDNet key {unknown[0]}")
        state = {PY_MDNET_KEYS[k]: v for k, v in shared.items()}
        backbone, settings, meta = "mdnet", None, {}
    else:
        raise TrackerError(f"weights file {path} is neither our format nor py-MDNet's (no 'shared_layers')")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise TrackerError(f"weights file {path} holds no tensors")
    if not isinstance(backbone, str) or backbone not in KNOWN_BACKBONES:
        raise TrackerError(f"weights file {path} holds an unknown backbone {quoted(backbone)}; this version knows "
                           f"{', '.join(KNOWN_BACKBONES)}")
    # a tensor cast to integers (or bools) would load, cast back, and track on weights that are mostly zeros
    not_float = next((k for k, v in state.items() if not v.is_floating_point()), None)
    if not_float is not None:
        dtype = str(state[not_float].dtype).removeprefix("torch.")
        raise TrackerError(f"weights file {path}: {not_float} holds {dtype} values, expected floating point")
    broken = next((k for k, v in state.items() if not torch.isfinite(v).all()), None)
    if broken is not None:
        raise TrackerError(f"weights file {path}: {broken} holds NaN or infinite values")
    if backbone == "mdnet" and settings is None:  # version 1 and py-MDNet: the width is in the tensors
        if not all(isinstance(state.get(f"conv{i}.weight"), torch.Tensor) for i in (1, 2, 3)):
            raise TrackerError(f"weights file {path} is missing conv weights (conv1-3)")
        settings = {"channels": [int(state[f"conv{i}.weight"].shape[0]) for i in (1, 2, 3)]}
    check_layout(path, backbone, settings if isinstance(settings, dict) else {}, state)
    fc = {k: v.float() for k, v in state.items() if k in FC_KEYS}
    if fc and set(fc) != set(FC_KEYS):
        raise TrackerError(f"weights file {path} is missing {sorted(set(FC_KEYS) - set(fc))[0]}")
    conv = {k: v.float() for k, v in state.items() if k not in FC_KEYS}
    return WeightsFile(path, backbone, settings if isinstance(settings, dict) else {}, conv, fc, meta)


def check_layout(path: Path, backbone: str, settings: dict, state: dict[str, torch.Tensor]) -> None:
    """The sizes a file claims, bounded before a backbone is built from them: a file saying 100,000 channels
    would otherwise be built first and fail in the allocator."""
    channels = settings.get("channels", []) if backbone == "mdnet" else []
    if not isinstance(channels, (list, tuple)) or not all(
            isinstance(c, int) and not isinstance(c, bool) and 0 < c <= MAX_CHANNELS for c in channels):
        raise TrackerError(f"weights file {path} claims backbone channels {quoted(channels)}: each must be an "
                           f"integer in 1 .. {MAX_CHANNELS}")
    width = state["fc4.weight"].shape[0] if "fc4.weight" in state else None
    if width is not None and not 0 < width <= SIZE_BOUNDS["fc_width"]:
        raise TrackerError(f"weights file {path} has an fc layer {width} wide; fc_width may be at most "
                           f"{SIZE_BOUNDS['fc_width']}")


def load_into(backbone: Backbone, weights: WeightsFile) -> None:
    """Copy the file's tensors into ``backbone``, with one clear line for any missing, extra or misshapen key."""
    expected = backbone.state_dict()
    missing = [k for k in expected if k not in weights.conv]
    if missing:
        raise TrackerError(f"weights file {weights.path} is missing {missing[0]}")
    extra = sorted(set(weights.conv) - set(expected))
    if extra:
        raise TrackerError(f"weights file {weights.path} has unexpected key {extra[0]}")
    for key, tensor in weights.conv.items():
        if tensor.shape != expected[key].shape:
            raise TrackerError(f"weights file {weights.path}: {key} has shape {tuple(tensor.shape)}, "
                               f"expected {tuple(expected[key].shape)}")
    if weights.fc:
        width = weights.fc["fc4.weight"].shape[0]
        shapes = {"fc4.weight": (width, backbone.out_channels * 9), "fc4.bias": (width,),
                  "fc5.weight": (width, width), "fc5.bias": (width,)}
        for key, shape in shapes.items():
            if tuple(weights.fc[key].shape) != shape:
                raise TrackerError(f"weights file {weights.path}: {key} has shape "
                                   f"{tuple(weights.fc[key].shape)}, expected {shape}")
    backbone.load_state_dict(weights.conv)


def save_weights(path: str | Path, backbone: Backbone, fc: dict[str, torch.Tensor] | None = None,
                 meta: dict | None = None) -> None:
    """Atomically: an interrupted save never leaves half a file under ``path``."""
    state = {k: v.detach().clone() for k, v in backbone.state_dict().items()}
    state.update({k: v.detach().clone() for k, v in (fc or {}).items()})
    with writing(path, "weights file", streams=False) as output:
        torch.save({"format": WEIGHTS_FORMAT, "version": VERSION, "backbone": backbone.name,
                    "settings": backbone.settings(), "state_dict": state, "meta": meta or {}}, output.temp_path())
