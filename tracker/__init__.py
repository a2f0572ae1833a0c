"""An MDNet-style online visual object tracker whose fc4-fc6 learn while tracking by BP, FA, DFA or binary DFA."""

from importlib import resources
from pathlib import Path

# package data (shipped weights, NanoTrack's ONNX files): found the same way from a checkout, an editable install
# or an installed wheel
PRETRAINED_DIR = Path(str(resources.files("tracker") / "pretrained"))
