"""Back-propagation (Eq. 2): the reference learning rule, through autograd."""

from __future__ import annotations

import torch

from tracker.head import ForwardCache, Head
from tracker.updaters.rule import LearningRule


class BPRule(LearningRule):
    name = "bp"
    needs_graph = True

    def backward(self, head: Head, features: torch.Tensor, cache: ForwardCache, loss: torch.Tensor,
                 labels: torch.Tensor, want_input_error: bool, probe: object) -> torch.Tensor | None:
        loss.backward()
        return features.grad if want_input_error else None

    def feedback_bytes(self, head: Head) -> int:
        return sum(layer.weight.numel() * layer.weight.element_size() for layer in (head.fc5, head.fc6))

    def propagation_macs(self, head: Head, batch: int) -> int:
        return batch * (head.fc6.weight.numel() + head.fc5.weight.numel())  # W6^T e6, then W5^T e5
