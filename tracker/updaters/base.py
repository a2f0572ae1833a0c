"""The online learning rule as a strategy object: the tracker hands it minibatches, nothing else."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from tracker.head import LAYER_NAMES, Head

if TYPE_CHECKING:  # the config imports the updaters' registry: this way round only for type hints
    from tracker.config import TrackerConfig


def binary_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """MDNet's loss: softmax cross-entropy summed over positives and negatives, over the batch size."""
    return F.cross_entropy(logits, labels, reduction="mean")


def output_error(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """e_L: gradient of ``binary_loss`` at fc6's pre-activation, (softmax - one-hot) / B."""
    probs = torch.softmax(logits, dim=1)
    return (probs - F.one_hot(labels, 2).to(probs.dtype)) / len(labels)


class Updater(ABC):
    """Owns how fc4-fc6 learn from a minibatch.

    Subclasses fill each parameter's ``.grad`` in :meth:`compute_gradients`; the optimizer step
    (SGD with momentum, weight decay, per-layer lr multipliers, gradient clipping) is common to all.
    """

    name: str = ""

    def __init__(self, config: TrackerConfig) -> None:
        self.config = config
        # pretraining sets this to get dL/d(fc4 input) after each step, the error that enters the
        # conv stack (CDFA / CBDFA: BP below fc4, this rule above)
        self.want_input_error = False
        self.input_error: torch.Tensor | None = None
        self.head: Head | None = None
        self.generator: torch.Generator | None = None
        self.optimizer: torch.optim.SGD | None = None

    def start(self, head: Head, generator: torch.Generator) -> None:
        """A new sequence: ``head`` has just been (re)initialised on the first frame."""
        self.head = head
        self.generator = generator
        groups = [{"params": list(layer.parameters()), "lr_mult": self.config.lr_mult.get(name, 1.0)}
                  for name, layer in zip(LAYER_NAMES, head.layers)]
        self.optimizer = torch.optim.SGD(groups, lr=self.config.lr_init, momentum=self.config.momentum,
                                         weight_decay=self.config.weight_decay, fused=True)

    @abstractmethod
    def compute_gradients(self, features: torch.Tensor, labels: torch.Tensor) -> float:
        """Set ``.grad`` of fc4-fc6's weights and biases for this minibatch; return the loss."""

    def step(self, features: torch.Tensor, labels: torch.Tensor, lr: float) -> float:
        """One learning step on a minibatch (labels: 1 target, 0 background); returns the loss."""
        if self.head is None or self.optimizer is None:
            raise RuntimeError("Updater.start() must be called before step()")
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.compute_gradients(features, labels)
        params = [p for layer in self.head.layers for p in layer.parameters()]
        torch.nn.utils.clip_grad_norm_(params, self.config.grad_clip)
        for group in self.optimizer.param_groups:
            group["lr"] = lr * group["lr_mult"]
        self.optimizer.step()
        return loss

    @abstractmethod
    def feedback_bytes(self) -> int:
        """Memory holding what carries errors backwards (BP: the transposed weights it reads)."""

    @abstractmethod
    def propagation_macs(self, batch: int) -> int:
        """Multiply-accumulates spent moving the output error to fc4 and fc5 for one minibatch."""

    def diagnostics(self) -> dict:
        """Per-run measurements the updater wants in the summary (none by default)."""
        return {}
