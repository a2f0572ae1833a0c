"""Feedback alignment (Eq. 5): errors travel back layer by layer through fixed matrices R, not W^T."""

from __future__ import annotations

import torch

from tracker.head import ForwardCache, Head
from tracker.updaters.feedback_rule import FeedbackRule, chained_errors, initial_feedback
from tracker.updaters.feedback_storage import DenseFeedback


class FARule(FeedbackRule):
    """R has W's shape. ``feedback_init: eq7`` takes R = W as it is on the first frame, then fixed;
    ``random`` draws R with W's Frobenius norm (``feedback_scaling: norm``) or N(0, 1) entries."""

    name = "fa"

    def build_feedback(self, head: Head, generator: torch.Generator) -> None:
        cfg = self.config
        self.feedback = [DenseFeedback(initial_feedback(layer.weight, cfg.feedback_init, cfg.feedback_scaling,
                                                        generator)) for layer in (head.fc5, head.fc6)]  # R5, R6

    def hidden_errors(self, cache: ForwardCache, e_out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        r5, r6 = self.feedback
        return chained_errors(cache, e_out, r5.project, r6.project)  # R^T e layer by layer (Eq. 5)
