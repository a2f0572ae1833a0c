"""fc4-fc6, the layers learned online, with a forward pass that exposes what learning rules need."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

LAYER_NAMES = ("fc4", "fc5", "fc6")


def products_in(dtype: torch.dtype) -> torch.autocast:
    """A context running matrix products in ``dtype`` (torch's autocast; weights stay as they are); a no-op for
    float32."""
    return torch.autocast("cpu", dtype=dtype, enabled=dtype != torch.float32)


@dataclass
class ForwardCache:
    """What one training forward pass saw, layer by layer (index 0 = fc4).

    ``inputs[i]`` is layer i's input after dropout, ``pre[i]`` its pre-activation,
    ``masks[i]`` the dropout mask already scaled by 1 / (1 - p) (None where no dropout).
    """

    inputs: list[torch.Tensor]
    pre: list[torch.Tensor]
    masks: list[torch.Tensor | None]

    @property
    def logits(self) -> torch.Tensor:
        return self.pre[-1]


class Head(nn.Module):
    """fc4 (in -> width, ReLU), fc5 (dropout, width -> width, ReLU), fc6 (dropout, width -> 2)."""

    def __init__(self, in_dim: int, width: int = 512, dropout: float = 0.5) -> None:
        super().__init__()
        self.fc4 = nn.Linear(in_dim, width)
        self.fc5 = nn.Linear(width, width)
        self.fc6 = nn.Linear(width, 2)
        self.dropout = (0.0, dropout, dropout)  # applied to each layer's input, as py-MDNet

    @property
    def layers(self) -> tuple[nn.Linear, nn.Linear, nn.Linear]:
        return (self.fc4, self.fc5, self.fc6)

    def reset(self, generator: torch.Generator, fc_state: dict[str, torch.Tensor] | None = None) -> None:
        """New sequence: fc4/fc5 from pretrained weights when given, else N(0, 0.01); fc6 always new."""
        with torch.no_grad():
            for name, layer in zip(LAYER_NAMES, self.layers):
                if fc_state and f"{name}.weight" in fc_state:
                    layer.weight.copy_(fc_state[f"{name}.weight"])
                    layer.bias.copy_(fc_state[f"{name}.bias"])
                else:
                    layer.weight.copy_(torch.randn(layer.weight.shape, generator=generator) * 0.01)
                    layer.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Inference: logits (n, 2), no dropout."""
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < 2:
                x = torch.relu(x)
        return x

    def forward_train(self, x: torch.Tensor, generator: torch.Generator) -> ForwardCache:
        """Training forward with seeded dropout; differentiable, so BP can use autograd on it."""
        cache = ForwardCache([], [], [])
        for i, (layer, p) in enumerate(zip(self.layers, self.dropout)):
            mask = None
            if p > 0:
                mask = (torch.rand(x.shape, generator=generator) >= p).float() / (1 - p)
                x = x * mask
            cache.inputs.append(x)
            cache.masks.append(mask)
            a = layer(x)
            cache.pre.append(a)
            x = torch.relu(a) if i < 2 else a
        return cache

    def positive_score(self, x: torch.Tensor, batch: int = 1024, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Target score (logit of the positive class) for each row of ``x``, without gradients; the products in
        ``dtype`` (autocast: the weights stay as they are), the scores float32."""
        with torch.no_grad(), products_in(dtype):
            if not len(x):
                return x[:, 0]
            return torch.cat([self(x[i:i + batch])[:, 1].float() for i in range(0, len(x), batch)])
