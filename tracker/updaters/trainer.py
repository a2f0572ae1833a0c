"""MDNet's optimisation of fc4-fc6, the same for every learning rule, for the tracker and for pretraining."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from tracker.config_sections import LearningConfig
from tracker.head import LAYER_NAMES, Head, products_in
from tracker.updaters.probe import AlignmentProbe
from tracker.updaters.rule import LearningRule, binary_loss
from tracker.updaters.sgd import FusedSGD, ParamGroup


def learning_dtype(name: str) -> torch.dtype:
    """The dtype a ``learning_dtype`` setting names; ``auto``: bfloat16 where this CPU has bf16 matrix
    instructions (AVX512-BF16 or AMX), else float32."""
    if name != "auto":
        return getattr(torch, name)
    native = (getattr(torch.cpu, probe, lambda: False)() for probe in ("_is_avx512_bf16_supported",
                                                                      "_is_amx_tile_supported"))
    return torch.bfloat16 if any(native) else torch.float32


@dataclass
class StepResult:
    loss: float
    input_error: torch.Tensor | None  # dL/d(fc4 input) as the rule forms it, when asked for


class Trainer:
    """Dropout forward pass, softmax loss, the rule's gradients, clipping, SGD with momentum, weight
    decay and per-layer lr multipliers. ``probe`` (set from ``alignment_diagnostics``) is optional."""

    def __init__(self, config: LearningConfig, rule: LearningRule) -> None:
        self.config = config
        self.dtype = learning_dtype(config.learning_dtype)  # of the step's matrix products
        self.rule = rule
        self.probe: AlignmentProbe | None = AlignmentProbe() if config.alignment_diagnostics else None
        self.head: Head | None = None
        self.generator: torch.Generator | None = None
        self.optimizer: FusedSGD | None = None

    @property
    def name(self) -> str:
        return self.rule.name

    def start(self, head: Head, generator: torch.Generator) -> None:
        """A new sequence: ``head`` has just been (re)initialised on the first frame."""
        self.head = head
        self.generator = generator
        groups = [ParamGroup(list(layer.parameters()), self.config.lr_mult.get(name, 1.0))
                  for name, layer in zip(LAYER_NAMES, head.layers)]
        self.optimizer = FusedSGD(groups, self.config.momentum, self.config.weight_decay)
        if self.probe is not None:
            self.probe = AlignmentProbe()  # measurements are per sequence
        self.rule.start(head, generator)

    def compute_gradients(self, features: torch.Tensor, labels: torch.Tensor,
                          want_input_error: bool = False) -> StepResult:
        """Set ``.grad`` of fc4-fc6 for this minibatch (labels: 1 target, 0 background)."""
        if self.head is None:
            raise RuntimeError("Trainer.start() must be called before a learning step")
        with torch.set_grad_enabled(self.rule.needs_graph or self.probe is not None), products_in(self.dtype):
            features = features.detach().requires_grad_(want_input_error and self.rule.needs_graph)
            cache = self.head.forward_train(features, self.generator)
            loss = binary_loss(cache.logits, labels)
            if self.probe is not None:
                self.probe.before(loss, self.head)
            input_error = self.rule.backward(self.head, features, cache, loss, labels, want_input_error, self.probe)
        if self.probe is not None:
            self.probe.after(self.head)
        return StepResult(float(loss.detach()), input_error)

    def step(self, features: torch.Tensor, labels: torch.Tensor, lr: float,
             want_input_error: bool = False) -> StepResult:
        """One learning step on a minibatch."""
        if self.optimizer is None:
            raise RuntimeError("Trainer.start() must be called before a learning step")
        self.optimizer.zero_grad()
        result = self.compute_gradients(features, labels, want_input_error)
        params = [p for layer in self.head.layers for p in layer.parameters()]
        torch.nn.utils.clip_grad_norm_(params, self.config.grad_clip)
        self.optimizer.step(lr)
        return result

    # ---------------------------------------------------------------- what others read or keep
    def momentum(self, param: torch.nn.Parameter) -> torch.Tensor | None:
        """SGD's momentum buffer of one of fc4-fc6's parameters (None before its first step)."""
        buffer = self.optimizer.momentum_buffer(param)
        return None if buffer is None else buffer.clone()

    def set_momentum(self, param: torch.nn.Parameter, buffer: torch.Tensor | None) -> None:
        """Install a momentum buffer (pretraining swaps fc6 branches with their momentum)."""
        self.optimizer.set_momentum_buffer(param, None if buffer is None else buffer.clone())

    def state_dict(self) -> dict:
        return {"optimizer": self.optimizer.state_dict(), "rule": self.rule.state()}

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.rule.load_state(state["rule"])

    def feedback_bytes(self) -> int:
        return self.rule.feedback_bytes(self.head)

    def propagation_macs(self, batch: int) -> int:
        return self.rule.propagation_macs(self.head, batch)

    def diagnostics(self) -> dict:
        """The probe's report and the rule's feedback size; empty without the probe."""
        if self.probe is None:
            return {}
        return {**self.probe.report(), "feedback_bytes": self.feedback_bytes()}
