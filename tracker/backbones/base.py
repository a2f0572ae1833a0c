"""What every backbone tells the rest of the tracker: its input normalisation and its map geometry."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class Backbone(nn.Module):
    """A frozen convolutional trunk: uint8 RGB images -> a feature map.

    Geometry, in input pixels (pixel p spans [p, p + 1)): map cell ``i`` is centred on
    ``cell_offset + stride * i`` and sees ``receptive_field`` pixels. It holds for inputs whose
    sides are what :meth:`input_side` returns; ``tests/test_backbones.py`` measures it.
    """

    name: str
    stride: int
    receptive_field: int
    cell_offset: float
    out_channels: int
    min_img_size: int  # the smallest crop (config img_size) the trunk maps to at least one cell

    def normalize(self, images: np.ndarray) -> torch.Tensor:
        """uint8 (n, h, w, 3) RGB -> float (n, 3, h, w) as the trunk was trained to see it."""
        return self.normalize_float(uint8_to_tensor(images))

    def normalize_float(self, images: torch.Tensor) -> torch.Tensor:
        """float (n, 3, h, w) RGB in 0..255 -> the trunk's input scale."""
        raise NotImplementedError

    def input_side(self, side: int) -> int:
        """The smallest input side >= ``side`` for which the geometry above holds."""
        return side

    def settings(self) -> dict:
        """What a weights file records, besides the tensors, to rebuild this backbone."""
        raise NotImplementedError

    @classmethod
    def from_settings(cls, settings: dict) -> Backbone:
        """An untrained backbone of the layout :meth:`settings` describes."""
        raise NotImplementedError


def uint8_to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (n, h, w, 3) -> float (n, 3, h, w), values unchanged."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()
