"""Whether several targets' learning steps cost less batched into one product (issue 43's stacked weights).

    python -m studies.batched_steps --out runs/batched_steps

For K = 1, 2, 4 targets: K of the tracker's own ``bdfa`` learning steps in turn (the trainer a target runs:
fc4-fc6 forward with dropout, the error sent back through fixed sign feedback, the weight products, momentum
SGD, gradient clipping), against one stacked step for all K (fc4-fc6 weights stacked per layer, each product
one ``bmm`` over the targets, the same feedback products; no dropout, clipping or momentum: the least a stacked
step can cost), and that stacked step for one target alone, K times. Each round times the three, interleaved,
on the same minibatch (128 rows of 720 features, the default trunk's); reported: the median ms of each, and the
per-round ratios with their 95% bootstrap intervals: stacked / in turn (what the stacked design would save over
the tracker's steps), and stacked / (K x one stacked) (what stacking itself saves, the step's other work
aside). Timings count only on an idle machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from tracker.config_sections import LearningConfig
from tracker.errors import ArgumentParser
from tracker.evaluation.harness import cli_main, markdown_table, write_json
from tracker.evaluation.paired import bootstrap_interval
from tracker.head import Head
from tracker.outputs import write_text
from tracker.updaters import make_updater

IN_FEATURES, WIDTH, BATCH = 720, 512, 128


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", default="1,2,4", help="comma list of K (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=100, help="interleaved rounds (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default: %(default)s)")
    parser.add_argument("--out", default="runs/batched_steps", help="default: %(default)s")
    return parser.parse_args(argv)


def stacked_step(weights: list[torch.Tensor], feedback: list[torch.Tensor], x: torch.Tensor, labels: torch.Tensor,
                 lr: float) -> None:
    """One DFA step for K targets at once: ``weights`` [(K, 512, 720), (K, 512, 512), (K, 2, 512)], ``feedback``
    [(K, 2, 512)] x 2 (the output error to each hidden layer), ``x`` (K, B, 720)."""
    w4, w5, w6 = weights
    h4 = torch.relu(torch.bmm(x, w4.transpose(1, 2)))
    h5 = torch.relu(torch.bmm(h4, w5.transpose(1, 2)))
    out = torch.bmm(h5, w6.transpose(1, 2))
    error = torch.softmax(out, dim=2) - torch.nn.functional.one_hot(labels, 2).float()
    d5 = torch.bmm(error, feedback[1]) * (h5 > 0)
    d4 = torch.bmm(error, feedback[0]) * (h4 > 0)
    for w, d, inputs in ((w6, error, h5), (w5, d5, h4), (w4, d4, x)):
        w -= lr * torch.bmm(d.transpose(1, 2), inputs)


def measure(k: int, repeats: int) -> dict:
    generator = torch.Generator().manual_seed(k)
    trainers, heads = [], []
    for _ in range(k):
        head = Head(IN_FEATURES, WIDTH, 0.5)
        head.reset(generator)
        trainer = make_updater(LearningConfig(updater="bdfa", learning_dtype="float32"))
        trainer.start(head, generator)
        trainers.append(trainer)
        heads.append(head)
    x = torch.rand(k, BATCH, IN_FEATURES, generator=generator)
    labels = (torch.arange(BATCH) < BATCH // 4).long()
    weights = [torch.stack([getattr(h, name).weight.detach().clone() for h in heads]) for name in ("fc4", "fc5", "fc6")]
    feedback = [torch.sign(torch.randn(k, 2, WIDTH, generator=generator)) / WIDTH ** 0.5 for _ in range(2)]
    batched_labels = labels.expand(k, BATCH)
    one = [w[:1].clone() for w in weights], [f[:1] for f in feedback], x[:1], batched_labels[:1]
    times: dict[str, list[float]] = {"in_turn": [], "stacked": [], "one_stacked": []}
    for round_ in range(repeats + 3):  # 3 untimed: first-touch allocations
        start = time.perf_counter()
        for i, trainer in enumerate(trainers):
            trainer.step(x[i], labels, 1e-4)
        middle = time.perf_counter()
        stacked_step(weights, feedback, x, batched_labels, 1e-4)
        stacked_end = time.perf_counter()
        stacked_step(*one, 1e-4)
        end = time.perf_counter()
        if round_ >= 3:
            times["in_turn"].append(1000 * (middle - start))
            times["stacked"].append(1000 * (stacked_end - middle))
            times["one_stacked"].append(1000 * (end - stacked_end))
    record = {"targets": k, "repeats": repeats, **{f"{name}_ms": statistics.median(t) for name, t in times.items()}}
    rng = np.random.default_rng(0)
    for name, ratios in (("vs_in_turn", np.array(times["stacked"]) / np.array(times["in_turn"])),
                         ("vs_k_alone", np.array(times["stacked"]) / (k * np.array(times["one_stacked"])))):
        record[name] = float(ratios.mean())
        record[f"{name}_95"] = list(bootstrap_interval(ratios, 10000, rng))
    return record


def run(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    records = [measure(int(k), args.repeats) for k in args.targets.split(",")]
    table = markdown_table(["targets", "in turn ms", "stacked ms", "one stacked ms", "stacked / in turn [95%]",
                            "stacked / (K x one) [95%]"], [
        [r["targets"], f"{r['in_turn_ms']:.2f}", f"{r['stacked_ms']:.2f}", f"{r['one_stacked_ms']:.2f}",
         "{:.3f} [{:.3f}, {:.3f}]".format(r["vs_in_turn"], *r["vs_in_turn_95"]),
         "{:.3f} [{:.3f}, {:.3f}]".format(r["vs_k_alone"], *r["vs_k_alone_95"])] for r in records])
    table += f"\n\n{args.repeats} interleaved rounds, {args.threads} torch thread(s), batch {BATCH}, bdfa."
    print(table)
    out = Path(args.out)
    write_json(out / "batched_steps.json", {"records": records, "threads": args.threads})
    write_text(out / "batched_steps.md", table + "\n")


def main(argv: list[str] | None = None) -> int:
    return cli_main(lambda: run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
