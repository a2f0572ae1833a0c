"""The base of the rules that replace back-propagated errors with fixed feedback (FA, DFA, BDFA).

All share the output error e_L and the weight gradient G_i = e_{i+1} o_i^T averaged over the batch;
a rule only says how the hidden layers' errors are formed from e_L.
"""

from __future__ import annotations

import math
import time
from abc import abstractmethod
from collections.abc import Callable

import torch

from tracker.config_sections import LearningConfig
from tracker.head import ForwardCache, Head
from tracker.updaters.feedback_storage import BinaryFeedback, DenseFeedback
from tracker.updaters.probe import AlignmentProbe
from tracker.updaters.rule import LearningRule, output_error


def relu_derivative(pre: torch.Tensor) -> torch.Tensor:
    return (pre > 0).to(pre.dtype)


def chained_errors(cache: ForwardCache, e_out: torch.Tensor, project5: Callable[[torch.Tensor], torch.Tensor],
                   project6: Callable[[torch.Tensor], torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Errors at fc4's and fc5's pre-activations when e_L travels back layer by layer: through
    ``project6`` (fc6 -> fc5) and then ``project5`` (fc5 -> fc4). BP uses W^T, FA fixed R (Eq. 5)."""
    e5 = project6(e_out)
    if cache.masks[2] is not None:  # the dropout applied where fc5's output fed fc6
        e5 = e5 * cache.masks[2]
    e5 = e5 * relu_derivative(cache.pre[1])
    e4 = project5(e5)
    if cache.masks[1] is not None:
        e4 = e4 * cache.masks[1]
    return e4 * relu_derivative(cache.pre[0]), e5


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
    entry_rms = float(matrix.norm()) / math.sqrt(matrix.numel())
    if scaling == "fan_in":
        return 1.0 / (math.sqrt(matrix.shape[1]) * max(entry_rms, 1e-30))
    if scaling == "norm":
        return float(reference.norm()) / max(float(matrix.norm()), 1e-30)
    return 1.0


class FeedbackRule(LearningRule):
    """Base of FA / DFA / BDFA; subclasses build ``self.feedback`` in :meth:`build_feedback` and use
    it in :meth:`hidden_errors`."""

    def __init__(self, config: LearningConfig) -> None:
        super().__init__(config)
        self.feedback: list[DenseFeedback | BinaryFeedback] = []

    def start(self, head: Head, generator: torch.Generator) -> None:
        # Eq. 7 products come from the weights as they are now, on the first frame, then stay fixed.
        self.build_feedback(head, generator)

    @abstractmethod
    def build_feedback(self, head: Head, generator: torch.Generator) -> None: ...

    @abstractmethod
    def hidden_errors(self, cache: ForwardCache, e_out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Errors at fc4's and fc5's pre-activations, (B, width) each; ``self.feedback[i]`` forms
        layer i's (0: fc4, 1: fc5)."""

    def feedback_bytes(self, head: Head) -> int:
        return sum(f.nbytes for f in self.feedback)

    def propagation_macs(self, head: Head, batch: int) -> int:
        return sum(f.macs(batch) for f in self.feedback)

    def backward(self, head: Head, features: torch.Tensor, cache: ForwardCache, loss: torch.Tensor,
                 labels: torch.Tensor, want_input_error: bool, probe: AlignmentProbe | None) -> torch.Tensor | None:
        cache = ForwardCache([x.detach() for x in cache.inputs], [a.detach() for a in cache.pre], cache.masks)
        start = time.perf_counter()
        e_out = output_error(cache.logits, labels)
        e4, e5 = self.hidden_errors(cache, e_out)
        input_error = e4 @ head.fc4.weight.detach() if want_input_error else None
        middle = time.perf_counter()
        for layer, error, inputs in zip(head.layers, (e4, e5, e_out), cache.inputs):
            # G_i = e_{i+1} o_i^T, batch mean already in e_L; float32 like the weights under any learning_dtype
            layer.weight.grad = (error.t() @ inputs).to(layer.weight.dtype)
            layer.bias.grad = error.sum(0).to(layer.bias.dtype)
        if probe is not None:
            probe.add_seconds(middle - start, time.perf_counter() - middle)
        return input_error

    def state(self) -> dict:
        return {"feedback": [vars(f) for f in self.feedback]}

    def load_state(self, state: dict) -> None:
        for feedback, saved in zip(self.feedback, state["feedback"]):
            vars(feedback).update(saved)
