"""Direct feedback alignment (Eq. 6) and its binary form (Eq. 9).

Every hidden layer receives the output error e_L directly through a fixed matrix:
e_i = (D_i^T e_L) ⊙ f'(a_i), with fc5's D = W6 and fc4's D = W6 W5 under the Eq. 7 initialisation.
"""

from __future__ import annotations

import torch

from tracker.head import ForwardCache, Head
from tracker.updaters.feedback_rule import FeedbackRule, feedback_scale, initial_feedback, relu_derivative
from tracker.updaters.feedback_storage import BinaryFeedback, DenseFeedback


class DFARule(FeedbackRule):
    name = "dfa"

    def eq7_products(self, head: Head) -> list[torch.Tensor]:
        """[D_fc4, D_fc5] = [W6 W5, W6] (Eq. 7): the linear path from each layer's output to e_L."""
        w5, w6 = head.fc5.weight.detach(), head.fc6.weight.detach()
        return [w6 @ w5, w6.clone()]

    def build_feedback(self, head: Head, generator: torch.Generator) -> None:
        cfg = self.config
        self.feedback = [DenseFeedback(initial_feedback(p, cfg.feedback_init, cfg.feedback_scaling, generator))
                         for p in self.eq7_products(head)]

    def hidden_errors(self, cache: ForwardCache, e_out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        errors = []
        for layer, feedback in enumerate(self.feedback):  # fc4, fc5
            delta = feedback.project(e_out)  # D_i^T e_L (Eq. 6), error at this layer's output
            mask = cache.masks[layer + 1]  # the dropout applied where this output fed the next layer
            if mask is not None:
                delta = delta * mask
            errors.append(delta * relu_derivative(cache.pre[layer]))
        return errors[0], errors[1]


class BDFARule(DFARule):
    """B_i = sign(D_i) (Eq. 9 when D_i is the Eq. 7 product), 1 bit per element.

    A +-1 matrix is far larger than BP's transposed weights; one scalar per layer
    (``feedback_scaling``, see :func:`feedback_scale`) brings it to their order.
    """

    name = "bdfa"

    def build_feedback(self, head: Head, generator: torch.Generator) -> None:
        cfg = self.config
        self.feedback = []
        for product in self.eq7_products(head):
            signs = torch.sign(initial_feedback(product, cfg.feedback_init, "none", generator))  # Eq. 9
            signs[signs == 0] = 1
            self.feedback.append(BinaryFeedback(signs, feedback_scale(signs, product, cfg.feedback_scaling)))
