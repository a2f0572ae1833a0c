"""The frozen trunk run by ONNX Runtime: the same network, 2-3x faster on a CPU than torch's eager convolutions.

While tracking the trunk never learns, so its forward pass can leave torch. :class:`OnnxRuntimeTrunk`
wraps a torch :class:`Backbone`, exports it once to an in-memory ONNX graph (dynamic batch and sides)
and runs that graph with ONNX Runtime's CPU kernels; geometry, normalisation and settings are the
wrapped backbone's. Its maps match torch's within float tolerance (``tests/test_onnx_runtime.py``).
Gradients (pretraining, ``differentiable`` features) go through the torch module, never the graph.

Exports and sessions are kept per process, keyed by the weights' bytes (and the thread count): a harness
building one tracker per sequence exports once.
"""

from __future__ import annotations

import hashlib
import io
import threading
import warnings

import numpy as np
import torch

from tracker.backbones.base import Backbone
from tracker.errors import TrackerError

INSTALL = "pip install onnx onnxruntime (or the package with its [onnxruntime] extra)"
OPSET = 17
_exports: dict[str, bytes] = {}
_sessions: dict[tuple[str, int], object] = {}
_lock = threading.Lock()


def weights_key(backbone: Backbone) -> str:
    """What identifies an export: the backbone's class, settings and every tensor's bytes."""
    digest = hashlib.sha256(f"{type(backbone).__name__}{backbone.settings()}".encode())
    for name, tensor in backbone.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().contiguous().numpy().tobytes())
    return digest.hexdigest()


def export_graph(backbone: Backbone) -> bytes:
    """The backbone's forward pass as a serialized ONNX graph, batch and sides dynamic."""
    try:
        import onnx  # noqa: F401  (torch's exporter needs it)
    except ImportError:
        raise TrackerError(f"trunk_runtime onnxruntime needs the onnx package: {INSTALL}") from None
    side = backbone.input_side(max(backbone.min_img_size, 64))
    example = torch.zeros(1, 3, side, side)
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(backbone.eval(), (example,), buffer, dynamo=False, opset_version=OPSET,
                          input_names=["image"], output_names=["map"],
                          dynamic_axes={"image": {0: "n", 2: "height", 3: "width"},
                                        "map": {0: "n", 2: "map_height", 3: "map_width"}})
    return buffer.getvalue()


class OnnxRuntimeTrunk(Backbone):
    """``backbone``'s forward pass in ONNX Runtime; everything else is ``backbone``'s."""

    def __init__(self, backbone: Backbone) -> None:
        super().__init__()
        try:
            import onnxruntime
        except ImportError:
            raise TrackerError(f"trunk_runtime onnxruntime needs the onnxruntime package: {INSTALL}") from None
        self._ort = onnxruntime
        self.torch_backbone = backbone
        for attribute in ("name", "stride", "receptive_field", "cell_offset", "out_channels", "min_img_size"):
            setattr(self, attribute, getattr(backbone, attribute))
        self.key = weights_key(backbone)
        with _lock:
            if self.key not in _exports:
                _exports[self.key] = export_graph(backbone)
        self.graph = _exports[self.key]

    def session(self, threads: int):
        """The graph's session for ``threads`` intra-op threads (torch's count when called: a delayed learner
        tracks on one)."""
        with _lock:
            if (self.key, threads) not in _sessions:
                options = self._ort.SessionOptions()
                options.intra_op_num_threads = threads
                options.inter_op_num_threads = 1
                # a pool that spins between calls would take the core a learner thread works on
                options.add_session_config_entry("session.intra_op.allow_spinning", "0")
                # the arena would keep the first frame's whole-image activations resident for good
                options.enable_cpu_mem_arena = False
                _sessions[self.key, threads] = self._ort.InferenceSession(self.graph, options,
                                                                          providers=["CPUExecutionProvider"])
            return _sessions[self.key, threads]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sides = x.shape[-2:]
        if torch.is_grad_enabled() or any(self.input_side(side) != side for side in sides):
            return self.torch_backbone(x)  # autograd; or a side the exported graph's constant padding does not fit
        image = np.ascontiguousarray(x.detach().numpy(), dtype=np.float32)
        (feature_map,) = self.session(torch.get_num_threads()).run(None, {"image": image})
        return torch.from_numpy(feature_map)

    def normalize_float(self, images: torch.Tensor) -> torch.Tensor:
        return self.torch_backbone.normalize_float(images)

    def input_side(self, side: int) -> int:
        return self.torch_backbone.input_side(side)

    def settings(self) -> dict:
        return self.torch_backbone.settings()
