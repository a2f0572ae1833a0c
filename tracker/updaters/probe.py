"""An optional probe on the trainer: how far a rule's updates are from BP's, and where its time goes.

``--diagnostics`` (config ``alignment_diagnostics``) and ``studies/update_cost.py`` attach it;
without it a learning step computes nothing it does not need.
"""

from __future__ import annotations

import math

import torch

from tracker.head import Head


def angle_degrees(a: torch.Tensor, b: torch.Tensor) -> float:
    cos = torch.dot(a.flatten(), b.flatten()) / (a.norm() * b.norm() + 1e-30)
    return math.degrees(math.acos(float(cos.clamp(-1, 1))))


class AlignmentProbe:
    """Per learning step: the angle between the rule's fc4/fc5 weight update and the true BP gradient
    of the same forward pass; per run: seconds in error propagation vs weight gradients (feedback rules)."""

    def __init__(self) -> None:
        self.angles: dict[str, list[float]] = {"fc4": [], "fc5": []}
        self.seconds = {"error_propagation": 0.0, "weight_gradients": 0.0}
        self.steps = 0
        self._bp: tuple[torch.Tensor, ...] = ()

    def before(self, loss: torch.Tensor, head: Head) -> None:
        """BP's gradients of this forward pass, taken before the rule writes its own."""
        self._bp = torch.autograd.grad(loss, [head.fc4.weight, head.fc5.weight], retain_graph=True)

    def after(self, head: Head) -> None:
        self.angles["fc4"].append(angle_degrees(head.fc4.weight.grad, self._bp[0]))
        self.angles["fc5"].append(angle_degrees(head.fc5.weight.grad, self._bp[1]))
        self.steps += 1

    def add_seconds(self, error_propagation: float, weight_gradients: float) -> None:
        self.seconds["error_propagation"] += error_propagation
        self.seconds["weight_gradients"] += weight_gradients

    def report(self) -> dict:
        out: dict = {"steps": self.steps, **self.seconds}
        for name, values in self.angles.items():
            if values:
                out[f"angle_{name}_mean_deg"] = sum(values) / len(values)
                out[f"angle_{name}_per_step_deg"] = values
        return out
