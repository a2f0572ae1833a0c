"""What a learning rule is: how fc4-fc6 get their gradients from one minibatch's forward pass.

Everything else about learning (dropout, the loss, SGD, clipping, lr multipliers) is the
:class:`~tracker.updaters.trainer.Trainer`'s, shared by every rule, the tracker and pretraining.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
import torch.nn.functional as F

from tracker.config_sections import LearningConfig
from tracker.head import ForwardCache, Head
from tracker.updaters.probe import AlignmentProbe


def binary_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """MDNet's loss: softmax cross-entropy summed over positives and negatives, over the batch size."""
    return F.cross_entropy(logits, labels, reduction="mean")


def output_error(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """e_L: gradient of ``binary_loss`` at fc6's pre-activation, (softmax - one-hot) / B."""
    probs = torch.softmax(logits, dim=1)
    return (probs - F.one_hot(labels, 2).to(probs.dtype)) / len(labels)


class LearningRule(ABC):
    """One rule: BP, FA, DFA, BDFA. A new rule is one subclass and one line in the registry."""

    name: str = ""
    needs_graph: bool = False  # whether ``backward`` needs autograd's graph of the forward pass

    def __init__(self, config: LearningConfig) -> None:
        self.config = config

    def start(self, head: Head, generator: torch.Generator) -> None:  # noqa: B027 - optional hook
        """A new sequence: ``head`` has just been (re)initialised on the first frame (BP: nothing to do)."""

    @abstractmethod
    def backward(self, head: Head, features: torch.Tensor, cache: ForwardCache, loss: torch.Tensor,
                 labels: torch.Tensor, want_input_error: bool, probe: AlignmentProbe | None) -> torch.Tensor | None:
        """Set ``.grad`` of fc4-fc6's weights and biases; return the error at fc4's input if asked
        (what pretraining back-propagates into the convolutions: CDFA / CBDFA)."""

    @abstractmethod
    def feedback_bytes(self, head: Head) -> int:
        """Memory holding what carries errors backwards (BP: the transposed weights it reads)."""

    @abstractmethod
    def propagation_macs(self, head: Head, batch: int) -> int:
        """Multiply-accumulates spent moving the output error to fc4 and fc5 for one minibatch."""

    def state(self) -> dict:
        """What a checkpoint must keep to resume this rule (its fixed feedback)."""
        return {}

    def load_state(self, state: dict) -> None:  # noqa: B027 - optional hook
        """Undo :meth:`state` (BP: nothing to restore)."""
