"""What one backbone pass costs, per lever: cut point, map side, memory layout, threads, oneDNN.

    python -m studies.trunk_cost --repeats 20

Times the frozen backbone alone (inference mode) on one square map per call, the way the shared
mode runs it once per frame. Every variant is timed in turn, repeat by repeat, so that a slower
stretch of the machine falls on all of them alike; the table gives medians and the ratio to the
first row. Levers: ``trunk_blocks`` (the cut point), the map side (how large the target is drawn
and how far ``max_map_side`` lets the first frame's map grow), channels-last memory layout, torch
threads, oneDNN (``torch.backends.mkldnn``) against torch's own convolution kernels, and ONNX Runtime
(``trunk_runtime: onnxruntime``) against torch.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from tracker.backbones import Backbone, EfficientNetLite0, MDNetBackbone
from tracker.backbones.onnx_runtime import OnnxRuntimeTrunk
from tracker.errors import ArgumentParser
from tracker.evaluation.harness import cli_main, markdown_table, record_setup, write_json
from tracker.outputs import write_text


@dataclass(frozen=True)
class Variant:
    backbone: str
    side: int
    channels_last: bool = False
    threads: int = 2
    onednn: bool = True
    runtime: str = "torch"

    @property
    def label(self) -> str:
        extras = [f"{self.threads} thread{'s' * (self.threads > 1)}"]
        extras += ["channels-last"] * self.channels_last + ["no oneDNN"] * (not self.onednn)
        extras += ["ONNX Runtime"] * (self.runtime == "onnxruntime")
        return f"{self.backbone}, {self.side}x{self.side}, {', '.join(extras)}"


DEFAULT_VARIANTS = [
    Variant("efficientnet_lite0/8", 256), Variant("efficientnet_lite0/5", 256), Variant("efficientnet_lite0/11", 256),
    Variant("mdnet", 256), Variant("efficientnet_lite0/8", 256, channels_last=True),
    Variant("efficientnet_lite0/8", 256, threads=1), Variant("efficientnet_lite0/8", 256, onednn=False),
    Variant("efficientnet_lite0/8", 192), Variant("efficientnet_lite0/8", 384), Variant("efficientnet_lite0/8", 512),
    Variant("efficientnet_lite0/8", 1024), Variant("efficientnet_lite0/8", 256, runtime="onnxruntime"),
    Variant("efficientnet_lite0/8", 256, threads=1, runtime="onnxruntime"),
    Variant("efficientnet_lite0/8", 1024, runtime="onnxruntime"),
]


def make(name: str) -> Backbone:
    if name == "mdnet":
        net = MDNetBackbone((48, 96, 128))
        net.init_random(torch.Generator().manual_seed(0))
        return net.eval()
    net = EfficientNetLite0(int(name.split("/")[1]))
    net.load_imagenet()
    return net.eval()


def time_once(net: Backbone, image: np.ndarray, variant: Variant) -> float:
    torch.set_num_threads(variant.threads)
    torch.backends.mkldnn.enabled = variant.onednn
    try:
        with torch.inference_mode():
            x = net.normalize(image)
            if variant.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            start = time.perf_counter()
            net(x)
            return time.perf_counter() - start
    finally:
        torch.backends.mkldnn.enabled = True


def run(args: argparse.Namespace) -> None:
    variants = DEFAULT_VARIANTS
    nets = {name: make(name) for name in {v.backbone for v in variants}}
    for v in variants:
        if v.channels_last:
            nets[v.backbone + "/cl"] = make(v.backbone).to(memory_format=torch.channels_last)
        if v.runtime == "onnxruntime":
            nets[v.backbone + "/onnxruntime"] = OnnxRuntimeTrunk(nets[v.backbone])
    rng = np.random.default_rng(0)
    images = {v.side: rng.integers(0, 256, (1, v.side, v.side, 3), dtype=np.uint8) for v in variants}

    def net_of(v: Variant) -> Backbone:
        if v.runtime == "onnxruntime":
            return nets[v.backbone + "/onnxruntime"]
        return nets[v.backbone + "/cl"] if v.channels_last else nets[v.backbone]

    for v in variants:  # warm-up: kernel selection, first allocations
        for _ in range(2):
            time_once(net_of(v), images[v.side], v)
    times: dict[Variant, list[float]] = {v: [] for v in variants}
    for _ in range(args.repeats):
        for v in variants:
            times[v].append(time_once(net_of(v), images[v.side], v))
    base = float(np.median(times[variants[0]]))
    rows = [[v.label, 1000 * float(np.median(t)), float(np.median(t)) / base] for v, t in times.items()]
    table = markdown_table(["backbone pass", "ms (median)", "x first"], rows)
    table += f"\n\nmedian of {args.repeats} interleaved repeats per row; one map per call, inference mode"
    print(table)
    out = Path(args.out)
    record_setup(out, args)
    write_json(out / "trunk_cost.json", {"repeats": args.repeats, "rows": [
        {**asdict(v), "label": v.label, "seconds": t} for v, t in times.items()]})
    write_text(out / "trunk_cost.md", table + "\n")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--out", default="runs/trunk_cost")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    return cli_main(lambda: run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
