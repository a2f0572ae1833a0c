"""Learning rules that replace back-propagated errors with fixed feedback (FA, DFA, BDFA).

All share the forward pass, the output error e_L, the weight gradient G_i = e_{i+1} o_i^T averaged
over the batch, and the optimizer step; a rule only says how the hidden layers' errors are formed.
"""

from __future__ import annotations

import math
import time
from abc import abstractmethod
from typing import TYPE_CHECKING

import torch

from tracker.head import ForwardCache, Head
from tracker.updaters.base import Updater, binary_loss, output_error

if TYPE_CHECKING:  # the config imports the updaters' registry: this way round only for type hints
    from tracker.config import TrackerConfig


def relu_derivative(pre: torch.Tensor) -> torch.Tensor:
    return (pre > 0).to(pre.dtype)


def angle_degrees(a: torch.Tensor, b: torch.Tensor) -> float:
    cos = torch.dot(a.flatten(), b.flatten()) / (a.norm() * b.norm() + 1e-30)
    return math.degrees(math.acos(float(cos.clamp(-1, 1))))


def initial_feedback(reference: torch.Tensor, init: str, scaling: str, generator: torch.Generator) -> torch.Tensor:
    """A fixed feedback matrix shaped like ``reference`` (n_out x n_in: the Eq. 7 product, or W for FA).

    ``init``: ``eq7`` takes the reference's direction, frozen now; ``random`` seeded N(0, 1) entries.
    ``scaling`` sets the size (:func:`feedback_scale`).
    """
    reference = reference.detach()
    matrix = reference.clone() if init == "eq7" else torch.randn(tuple(reference.shape), generator=generator)
    return matrix * feedback_scale(matrix, reference, scaling)


def feedback_scale(matrix: torch.Tensor, reference: torch.Tensor, scaling: str) -> float:
    """The factor that gives ``matrix`` its size.

    ``fan_in``: RMS entry 1 / sqrt(n_in), the size a freshly initialised n_in -> n_out forward layer
    has (LeCun), so hidden errors are of BP's order once the forward weights are trained;
    ``norm``: the reference's Frobenius norm (BP's size on the first frame; tiny next to a newly
    drawn fc6); ``none``: as drawn.
    """
    rms = float(matrix.norm()) / math.sqrt(matrix.numel())
    if scaling == "fan_in":
        return 1.0 / (math.sqrt(matrix.shape[1]) * max(rms, 1e-30))
    if scaling == "norm":
        return float(reference.norm()) / max(float(matrix.norm()), 1e-30)
    return 1.0


class FeedbackUpdater(Updater):
    """Base of FA / DFA / BDFA; subclasses build ``self.feedback`` in :meth:`build_feedback` and use
    it in :meth:`hidden_errors`."""

    def __init__(self, config: TrackerConfig) -> None:
        super().__init__(config)
        self.reset_diagnostics()

    def reset_diagnostics(self) -> None:
        self.angles: dict[str, list[float]] = {"fc4": [], "fc5": []}
        self.seconds = {"error_propagation": 0.0, "weight_gradients": 0.0}
        self.steps = 0

    def start(self, head: Head, generator: torch.Generator) -> None:
        super().start(head, generator)
        self.reset_diagnostics()  # a new sequence: angles and timings are per sequence
        # Eq. 7 products come from the weights as they are now, on the first frame, then stay fixed.
        self.build_feedback(head, generator)

    @abstractmethod
    def build_feedback(self, head: Head, generator: torch.Generator) -> None: ...

    @abstractmethod
    def hidden_errors(self, cache: ForwardCache, e_out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Errors at fc4's and fc5's pre-activations, (B, width) each."""

    def feedback_bytes(self) -> int:
        return sum(f.nbytes for f in self.feedback)

    def propagation_macs(self, batch: int) -> int:
        return sum(f.macs(batch) for f in self.feedback)

    def compute_gradients(self, features: torch.Tensor, labels: torch.Tensor) -> float:
        diagnose = self.config.alignment_diagnostics
        with torch.set_grad_enabled(diagnose):
            cache = self.head.forward_train(features, self.generator)
            loss = binary_loss(cache.logits, labels)
            if diagnose:  # the true BP gradient of the same forward pass, for the alignment angle
                bp_grads = torch.autograd.grad(loss, [self.head.fc4.weight, self.head.fc5.weight])
        cache = ForwardCache([x.detach() for x in cache.inputs], [a.detach() for a in cache.pre], cache.masks)
        start = time.perf_counter()
        e_out = output_error(cache.logits, labels)
        e4, e5 = self.hidden_errors(cache, e_out)
        if self.want_input_error:
            self.input_error = e4 @ self.head.fc4.weight.detach()
        middle = time.perf_counter()
        for layer, error, inputs in zip(self.head.layers, (e4, e5, e_out), cache.inputs):
            layer.weight.grad = error.t() @ inputs  # G_i = e_{i+1} o_i^T, batch mean already in e_L
            layer.bias.grad = error.sum(0)
        end = time.perf_counter()
        self.seconds["error_propagation"] += middle - start
        self.seconds["weight_gradients"] += end - middle
        self.steps += 1
        if diagnose:
            self.angles["fc4"].append(angle_degrees(self.head.fc4.weight.grad, bp_grads[0]))
            self.angles["fc5"].append(angle_degrees(self.head.fc5.weight.grad, bp_grads[1]))
        return float(loss.detach())

    def diagnostics(self) -> dict:
        out = {"steps": self.steps, "feedback_bytes": self.feedback_bytes(), **self.seconds}
        for name, values in self.angles.items():
            if values:
                out[f"angle_{name}_mean_deg"] = sum(values) / len(values)
                out[f"angle_{name}_per_step_deg"] = values
        return out
