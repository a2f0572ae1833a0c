"""Back-propagation (Eq. 2): the reference learning rule, through autograd."""

from __future__ import annotations

import torch

from tracker.updaters.base import Updater, binary_loss


class BPUpdater(Updater):
    name = "bp"

    def compute_gradients(self, features: torch.Tensor, labels: torch.Tensor) -> float:
        with torch.enable_grad():
            features = features.detach().requires_grad_(self.want_input_error)
            cache = self.head.forward_train(features, self.generator)
            loss = binary_loss(cache.logits, labels)
            loss.backward()
        self.input_error = features.grad
        return float(loss.detach())

    def feedback_bytes(self) -> int:
        return sum(layer.weight.numel() * layer.weight.element_size() for layer in (self.head.fc5, self.head.fc6))

    def propagation_macs(self, batch: int) -> int:
        return batch * (self.head.fc6.weight.numel() + self.head.fc5.weight.numel())  # W6^T e6, then W5^T e5
