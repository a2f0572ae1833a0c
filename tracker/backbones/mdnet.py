"""MDNet's conv1-3 layout, trained from scratch by ``tracker.pretrain`` or loaded from py-MDNet."""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn

from tracker.backbones.base import Backbone

MEAN_PIXEL = 128.0


@functools.lru_cache(maxsize=8)
def _channel_window(channels: int, size: int, scale: float, k: float) -> tuple[torch.Tensor, torch.Tensor]:
    """1x1 conv weights summing each channel's ``size``-wide neighbourhood times ``scale``, and bias ``k``.

    Built once per shape, outside inference mode: the cached tensors are also used under autograd.
    """
    with torch.inference_mode(False):
        c = torch.arange(channels)
        offset = c[None, :] - c[:, None]  # input channel - output channel
        band = (offset >= -(size // 2)) & (offset <= (size - 1) // 2)
        return (band.float() * scale)[:, :, None, None], torch.full((channels,), k)


def local_response_norm(x: torch.Tensor, size: int = 5, alpha: float = 1e-4, beta: float = 0.75,
                        k: float = 2.0) -> torch.Tensor:
    """Same values as ``nn.LocalResponseNorm``, about 6x faster on CPU.

    The cross-channel window sum is a banded 1x1 convolution (one oneDNN call, forward and
    backward) instead of torch's padded average pool over a 5-D view.
    """
    window, bias = _channel_window(x.shape[1], size, alpha / size, k)
    scale = F.conv2d(x * x, window.to(x.dtype), bias.to(x.dtype))  # k + alpha/n * sum x^2
    if beta == 0.75:  # rsqrt(s) * sqrt(rsqrt(s)) = s^-0.75, much cheaper than pow
        inv = scale.rsqrt()
        return x * inv * inv.sqrt()
    return x * scale.pow(-beta)


class MDNetBackbone(Backbone):
    """conv1 7x7/2 + LRN + pool, conv2 5x5/2 + LRN + pool, conv3 3x3/1: a 107x107 crop -> C3 x 3 x 3.

    Unpadded: a conv3 cell ``i`` sees input pixels [16 i, 16 i + 74] whatever the input size.
    """

    name = "mdnet"
    stride = 16
    receptive_field = 75
    min_img_size = receptive_field  # a smaller crop leaves conv3 empty
    cell_offset = 37.5

    def __init__(self, channels: tuple[int, int, int]) -> None:
        super().__init__()
        if len(channels) != 3 or not all(c > 0 for c in channels):
            raise ValueError(f"MDNet layout needs 3 positive widths, got {channels}")
        self.channels = tuple(channels)
        self.out_channels = self.channels[2]
        self.conv1 = nn.Conv2d(3, channels[0], 7, stride=2)
        self.conv2 = nn.Conv2d(channels[0], channels[1], 5, stride=2)
        self.conv3 = nn.Conv2d(channels[1], channels[2], 3, stride=1)
        self.requires_grad_(False)

    def normalize_float(self, images: torch.Tensor) -> torch.Tensor:
        return images - MEAN_PIXEL  # py-MDNet: the mean pixel subtracted

    def settings(self) -> dict:
        return {"channels": list(self.channels)}

    @classmethod
    def from_settings(cls, settings: dict) -> MDNetBackbone:
        return cls(tuple(int(c) for c in settings["channels"]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(local_response_norm(F.relu(self.conv1(x))), 3, 2)
        x = F.max_pool2d(local_response_norm(F.relu(self.conv2(x))), 3, 2)
        return F.relu(self.conv3(x))

    def init_random(self, generator: torch.Generator) -> None:
        """Seeded He-normal filters for ``--weights none``.

        MDNet's N(0, 0.01) would make activations vanish through three untrained layers.
        """
        for conv in (self.conv1, self.conv2, self.conv3):
            fan_in = conv.weight[0].numel()
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator) * (2.0 / fan_in) ** 0.5)
            conv.bias.fill_(0.1)
