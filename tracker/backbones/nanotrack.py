"""NanoTrack v2's tracking-trained backbone as the frozen trunk under fc4-fc6 (``backbone: nanotrack``).

The box stage's Siamese backbone (tracker/nanotrack.py: MobileNetV3-small, trained offline on many videos to
match a target across frames; 48 channels at stride 16) read as our trunk: the shipped ONNX file run by
OpenCV's DNN module, on RGB 0-255 as NanoTrack feeds it. It is about a tenth of EfficientNet-Lite0's cost and
was trained to tell *this* object from others, where ImageNet's trunk was trained to name classes.

It has no weights file of its own and no gradients: fc4-fc6 start fresh on each sequence, as on the
default trunk, and pretraining (which back-propagates into a trunk) does not take it. Its squeeze-and-excitation
layers pool the whole input, so every cell depends a little on every pixel; the declared receptive field and
cell centre are those of the pixels a cell mostly depends on, measured by perturbing input columns
(``tests/test_backbones.py``).
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import torch

from tracker import PRETRAINED_DIR
from tracker.backbones.base import Backbone
from tracker.errors import TrackerError
from tracker.nanotrack import BACKBONE_FILE, read_net


class NanoTrackTrunk(Backbone):
    name = "nanotrack"
    stride = 16
    # the columns whose change moves cell i's features by at least 5% of the most any column does: 110-116
    # pixels wide, centred 5-8.5 pixels right of 16 i (inputs 160-192 pixels a side, random inputs)
    receptive_field = 115
    cell_offset = 7.0
    out_channels = 48
    min_img_size = 16

    def __init__(self, folder: Path = PRETRAINED_DIR) -> None:
        super().__init__()
        self.net = read_net(folder / BACKBONE_FILE)  # its own network: the box stage's keeps its input shapes
        # the network holds its input between setInput and forward: a search beside the tracker (redetect_runner:
        # thread) reads the same trunk from another thread, so one reading at a time
        self.in_use = threading.Lock()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.requires_grad:
            raise TrackerError("the nanotrack trunk runs in OpenCV and has no gradients: pretraining needs the "
                               "efficientnet_lite0 or mdnet backbone")
        maps = []
        for image in x.numpy().astype(np.float32, copy=False):  # one at a time: the graph's pooling assumes one
            with self.in_use:
                self.net.setInput(np.ascontiguousarray(image[None]))
                maps.append(self.net.forward().copy())
        return torch.from_numpy(np.concatenate(maps))

    def normalize_float(self, images: torch.Tensor) -> torch.Tensor:
        return images  # RGB 0-255, as NanoTrack's tracker feeds it

    def input_side(self, side: int) -> int:
        return -(-side // self.stride) * self.stride

    def settings(self) -> dict:
        return {}

    @classmethod
    def from_settings(cls, settings: dict) -> NanoTrackTrunk:
        return cls()
