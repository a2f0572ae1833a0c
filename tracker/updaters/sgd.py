"""SGD with momentum and weight decay for fc4-fc6: torch's fused in-place kernel, called without torch.optim.

The first ``torch.optim`` optimizer a process makes imports torch's compiler stack (``torch._dynamo``: about
800 modules, 74 MB of resident memory and a second of start-up, measured on the 2-core machine), which
tracking never uses. This calls the same kernel ``torch.optim.SGD(..., fused=True)`` calls, with the same
arguments, so the weights it gives are identical to the bit: per group, d = g + weight_decay * p;
b = d on the first step, else momentum * b + d; p -= lr * b.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class ParamGroup:
    params: list[torch.nn.Parameter]
    lr_mult: float = 1.0
    buffers: list[torch.Tensor | None] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.buffers:
            self.buffers = [None] * len(self.params)


class FusedSGD:
    def __init__(self, groups: list[ParamGroup], momentum: float, weight_decay: float) -> None:
        self.groups = groups
        self.momentum = momentum
        self.weight_decay = weight_decay

    def zero_grad(self) -> None:
        for group in self.groups:
            for param in group.params:
                param.grad = None

    def step(self, lr: float) -> None:
        """One update of every parameter that has a gradient, at ``lr`` times its group's multiplier."""
        for group in self.groups:
            chosen = [i for i, p in enumerate(group.params) if p.grad is not None]
            if not chosen:
                continue
            params = [group.params[i] for i in chosen]
            first = all(group.buffers[i] is None for i in chosen)
            for i in chosen:
                if group.buffers[i] is None:  # a first step, or a buffer dropped alone (set_momentum)
                    group.buffers[i] = (torch.empty_like if first else torch.zeros_like)(group.params[i])
            torch._fused_sgd_(params, [p.grad for p in params], [group.buffers[i] for i in chosen],
                              weight_decay=self.weight_decay, momentum=self.momentum, lr=lr * group.lr_mult,
                              dampening=0.0, nesterov=False, maximize=False, is_first_step=first)

    def _slot(self, param: torch.nn.Parameter) -> tuple[ParamGroup, int]:
        for group in self.groups:
            for i, p in enumerate(group.params):
                if p is param:
                    return group, i
        raise KeyError("not a parameter of this optimizer")

    def momentum_buffer(self, param: torch.nn.Parameter) -> torch.Tensor | None:
        group, i = self._slot(param)
        return group.buffers[i]

    def set_momentum_buffer(self, param: torch.nn.Parameter, buffer: torch.Tensor | None) -> None:
        group, i = self._slot(param)
        group.buffers[i] = buffer

    def state_dict(self) -> dict:
        return {"momentum_buffers": [[None if b is None else b.clone() for b in g.buffers] for g in self.groups]}

    def load_state_dict(self, state: dict) -> None:
        saved = state["momentum_buffers"]
        if len(saved) != len(self.groups) or any(len(s) != len(g.params) for s, g in zip(saved, self.groups)):
            raise ValueError("the saved optimizer state has other parameter groups")
        for group, buffers in zip(self.groups, saved):
            group.buffers = [None if b is None else b.clone() for b in buffers]
