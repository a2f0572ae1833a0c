"""MDNet multi-domain pretraining of the backbone and fc4-fc5.

    python -m tracker.pretrain --data ../shared/datasets/pretrain --out tracker/pretrained/default.pt

One fc6 branch per training sequence (domain); each iteration takes one domain's minibatch of
positives (IoU >= 0.7) and negatives (IoU <= 0.5) from a few of its frames. The backbone is the
ImageNet EfficientNet-Lite0 trunk (``--backbone efficientnet_lite0``, its last ``--train-blocks``
blocks fine-tuned at ``--trunk-lr-mult`` times the rate) or MDNet's conv1-3 from scratch
(``--backbone mdnet``). The conv layers learn by back-propagation; fc4-fc6 learn through the
same :class:`~tracker.updaters.Trainer` and rules the tracker uses (``--fc-updater``: any registered rule);
with dfa/bdfa this is the paper's CDFA / CBDFA, the FC error entering the conv stack at fc4's input.
A checkpoint (``<out>.ckpt``) is written every ``--checkpoint-every`` iterations and a re-run resumes
from it, on the same loss curve.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import math
import re
import sys
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

from tracker.allocator import keep_freed_memory
from tracker.backbones import TRAINABLE_BACKBONES, Backbone, EfficientNetLite0, MDNetBackbone, save_weights
from tracker.backbones.efficientnet_lite0 import N_BLOCKS
from tracker.boxes import SampleGenerator
from tracker.config import TrackerConfig, load_config
from tracker.data.otb import list_otb, open_otb
from tracker.data.sequence import ImageSequence, read_image
from tracker.errors import ArgumentParser, TrackerError, quoted, run_command
from tracker.features import feature_dim, frame_features
from tracker.head import Head
from tracker.limits import MAX_CHANNELS, MAX_COUNT, SIZE_BOUNDS
from tracker.outputs import Output, write_text, writing
from tracker.updaters import UPDATERS, make_updater

OTB100 = (
    "Basketball Biker Bird1 Bird2 BlurBody BlurCar1 BlurCar2 BlurCar3 BlurCar4 BlurFace BlurOwl Board Bolt Bolt2 "
    "Box Boy Car1 Car2 Car24 Car4 CarDark CarScale ClifBar Coke Couple Coupon Crossing Crowds Dancer Dancer2 "
    "David David2 David3 Deer Diving Dog Dog1 Doll DragonBaby Dudek FaceOcc1 FaceOcc2 Fish FleetFace Football "
    "Football1 Freeman1 Freeman3 Freeman4 Girl Girl2 Gym Human2 Human3 Human4 Human5 Human6 Human7 Human8 Human9 "
    "Ironman Jogging Jump Jumping KiteSurf Lemming Liquor Man Matrix Mhyang MotorRolling MountainBike Panda "
    "RedTeam Rubik Shaking Singer1 Singer2 Skater Skater2 Skating1 Skating2 Skiing Soccer Subway Surfer Suv "
    "Sylvester Tiger1 Tiger2 Toy Trans Trellis Twinnings Vase Walking Walking2 Woman"
).split()
_OTB_LOWER = {n.lower() for n in OTB100}
AUGMENTATIONS = ("flip", "colour", "blur")


def is_otb_name(name: str) -> bool:
    """``Jogging``, ``jogging.1``, ``otb_Basketball`` are OTB-100; ``vot_ball1`` is not."""
    stem = re.sub(r"[.\-_]\d+$", "", name.lower())
    return stem in _OTB_LOWER or stem.split("_")[-1] in _OTB_LOWER


def load_domains(data: str) -> list[ImageSequence]:
    found = list_otb(data)
    if not found:
        raise TrackerError(f"no training sequences (img/ + groundtruth_rect.txt) under {data}")
    forbidden = sorted(name for name in found if is_otb_name(name))
    if forbidden:
        raise TrackerError(f"refusing to train on evaluation data: {', '.join(forbidden)} in {data} "
                           "is an OTB-100 sequence")
    return [open_otb(folder, target, name) for name, (folder, target) in found.items()]


def augment(image: np.ndarray, boxes: np.ndarray, kinds: tuple[str, ...],
            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    if "flip" in kinds and rng.random() < 0.5:
        image = image[:, ::-1]
        boxes = boxes.copy()
        boxes[:, 0] = image.shape[1] - boxes[:, 0] - boxes[:, 2]
    if "colour" in kinds:
        gain = rng.uniform(0.8, 1.2, 3)  # per-channel: brightness and colour balance
        image = np.clip(image.astype(np.float32) * gain + rng.uniform(-20, 20), 0, 255).astype(np.uint8)
    if "blur" in kinds and rng.random() < 0.3:
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.5, 2.0))
    return np.ascontiguousarray(image), boxes


class Pretrainer:
    def __init__(self, args: argparse.Namespace, domains: list[ImageSequence]) -> None:
        self.args = args
        self.domains = domains
        self.rng = np.random.default_rng(args.seed)
        self.generator = torch.Generator().manual_seed(args.seed)
        self.backbone = make_trainable_backbone(args)
        self.head = Head(feature_dim(self.backbone), args.fc_width, 0.5)
        self.head.reset(self.generator)
        self.trainer = make_updater(args.tracker_config.replace(
            learning={"updater": args.fc_updater, "feedback_init": "random"}).learning)
        self.trainer.start(self.head, self.generator)
        self.trainable = [p for p in self.backbone.parameters() if p.requires_grad]
        self.conv_optimizer = torch.optim.SGD(self.trainable or [torch.nn.Parameter(torch.zeros(1))],
                                              lr=args.lr * args.trunk_lr_mult,
                                              momentum=args.tracker_config.learning.momentum,
                                              weight_decay=args.tracker_config.learning.weight_decay, fused=True)
        self.branches = [self._new_branch() for _ in domains]
        self.step = 0
        self.history: list[tuple[float, float]] = []
        self.order: list[int] = []

    def _new_branch(self) -> dict:
        w = torch.randn(self.head.fc6.weight.shape, generator=self.generator) * 0.01
        return {"weight": w, "bias": torch.zeros(2), "momentum": [None, None]}

    # ------------------------------------------------------------ one iteration
    def minibatch(self, domain: ImageSequence) -> tuple[torch.Tensor, torch.Tensor]:
        """Features (with their autograd graph) and labels of one domain's positives and negatives.

        ``--feature-mode shared`` reads them off one map per frame, as the tracker does, so that
        cells whose receptive field reaches beyond a box's crop see the same context in pretraining
        and tracking; ``exact`` runs the backbone on each box's crop.
        """
        args = self.args
        cfg = args.tracker_config  # MDNet's minibatch and sample distributions, as the tracker's first frame
        frames = self.rng.choice(len(domain.paths), size=min(args.batch_frames, len(domain.paths)), replace=False)
        n_pos, n_neg = -(-cfg.updates.batch_pos // len(frames)), -(-cfg.updates.batch_neg // len(frames))
        features, labels = [], []
        for index in frames:
            image = read_image(domain.paths[index])
            box = domain.ground_truth[index]
            size = (image.shape[1], image.shape[0])
            pos = SampleGenerator("gaussian", size, cfg.samples.trans_pos, cfg.samples.scale_pos).draw_in_overlap(
                box, n_pos, (cfg.samples.overlap_pos_init, 1.0), self.rng)
            neg = SampleGenerator("uniform", size, cfg.samples.trans_neg_init,
                                  cfg.samples.scale_neg_init).draw_in_overlap(
                box, n_neg, (0.0, cfg.samples.overlap_neg_init), self.rng)
            image, boxes = augment(image, np.concatenate([box[None], pos, neg]), tuple(args.augment), self.rng)
            reference, boxes = boxes[0], boxes[1:]
            frame_labels = np.r_[np.ones(len(pos)), np.zeros(len(neg))]
            frame = frame_features(self.backbone, image, args.feature_mode, cfg.network.img_size, cfg.network.padding,
                                   reference,
                                   boxes, cfg.network.max_map_side, differentiable=True)
            inside = frame.contains(boxes)  # a shared map capped at 1024 pixels may leave far negatives out
            features.append(frame.extract(boxes[inside]))
            labels.append(frame_labels[inside])
        return torch.cat(features), torch.from_numpy(np.concatenate(labels)).long()

    def train_step(self) -> tuple[float, float]:
        if not self.order:
            self.order = list(self.rng.permutation(len(self.domains)))
        k = int(self.order.pop())
        features, labels = self.minibatch(self.domains[k])
        self._load_branch(k)
        step = self.trainer.step(features.detach(), labels, self.args.lr, want_input_error=True)
        self._store_branch(k)
        if self.trainable:
            self.conv_optimizer.zero_grad(set_to_none=True)
            features.backward(step.input_error)  # BP below fc4 from the rule's error at fc4's input
            torch.nn.utils.clip_grad_norm_(self.trainable, self.args.tracker_config.learning.grad_clip)
            self.conv_optimizer.step()
        with torch.no_grad():
            accuracy = float(((self.head(features.detach())[:, 1] > 0) == (labels == 1)).float().mean())
        self.step += 1
        self.history.append((step.loss, accuracy))
        return step.loss, accuracy

    def _fc6_params(self) -> list[torch.nn.Parameter]:
        return [self.head.fc6.weight, self.head.fc6.bias]

    def _load_branch(self, k: int) -> None:
        branch = self.branches[k]
        with torch.no_grad():
            self.head.fc6.weight.copy_(branch["weight"])
            self.head.fc6.bias.copy_(branch["bias"])
        for param, buffer in zip(self._fc6_params(), branch["momentum"]):
            self.trainer.set_momentum(param, buffer)

    def _store_branch(self, k: int) -> None:
        self.branches[k] = {
            "weight": self.head.fc6.weight.detach().clone(), "bias": self.head.fc6.bias.detach().clone(),
            "momentum": [self.trainer.momentum(p) for p in self._fc6_params()],
        }

    # ------------------------------------------------------------ checkpoints
    def state(self) -> dict:
        return {"step": self.step, "history": self.history, "order": [int(i) for i in self.order],
                "backbone": self.backbone.state_dict(), "head": self.head.state_dict(),
                "branches": self.branches, "conv_optimizer": self.conv_optimizer.state_dict(),
                "trainer": self.trainer.state_dict(),
                "rng": self.rng.bit_generator.state, "generator": self.generator.get_state(),
                "args": recorded_args(self.args)}

    def save_checkpoint(self, path: Path) -> None:
        with writing(path, "checkpoint", streams=False) as output:
            torch.save(self.state(), output.temp_path())

    def load_checkpoint(self, path: Path) -> None:
        try:
            # weights_only: a checkpoint is data (tensors, numbers, strings), never code to run
            state = torch.load(path, map_location="cpu", weights_only=True)
            made_with = state["args"]
            state["trainer"]  # noqa: B018 - checkpoints before the Trainer kept the optimizer apart
        except Exception as exc:  # torch raises many types for a corrupt or foreign file
            raise TrackerError(f"checkpoint {path} could not be read ({type(exc).__name__}); delete it to start "
                               "again") from None
        asked = recorded_args(self.args)
        for key in ("fc_updater", "backbone", "channels", "trunk_blocks", "train_blocks", "feature_mode", "seed",
                    "data"):
            if made_with.get(key) != asked[key]:
                raise TrackerError(f"checkpoint {path} was made with --{key.replace('_', '-')} "
                                   f"{made_with.get(key)}; delete it or use the same settings")
        if made_with.get("tracker_config") != asked["tracker_config"]:
            raise TrackerError(f"checkpoint {path} was made with other --config settings; delete it or use the same")
        self.step, self.history, self.order = state["step"], state["history"], state["order"]
        self.backbone.load_state_dict(state["backbone"])
        self.head.load_state_dict(state["head"])
        self.branches = state["branches"]
        self.conv_optimizer.load_state_dict(state["conv_optimizer"])
        self.trainer.load_state_dict(state["trainer"])
        self.rng.bit_generator.state = state["rng"]
        self.generator.set_state(state["generator"])


def recorded_args(args: argparse.Namespace) -> dict:
    """The run's arguments as plain values (the config as a dict, paths as text), as a checkpoint keeps them:
    what ``torch.load(weights_only=True)`` reads back without running anything."""
    def plain(value: object) -> object:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {k: plain(v) for k, v in dataclasses.asdict(value).items()}
        if isinstance(value, Path):
            return str(value)
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return {k: plain(v) for k, v in vars(args).items()}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = ArgumentParser(description="MDNet multi-domain pretraining (BP, or CDFA / CBDFA).")
    parser.add_argument("--data", required=True, help="folder of training sequences (OTB layout), never OTB")
    parser.add_argument("--out", required=True, help="weights file to write (e.g. tracker/pretrained/default.pt)")
    parser.add_argument("--fc-updater", choices=sorted(UPDATERS), default="bp",
                        help="how fc4-fc6 learn (with fa/dfa/bdfa the rule's error at fc4's input trains the convs)")
    parser.add_argument("--iterations", type=int, default=3000,
                        help="0 exports the starting backbone alone (the ImageNet trunk), without fc4/fc5")
    parser.add_argument("--backbone", choices=sorted(TRAINABLE_BACKBONES), default=TrackerConfig().network.backbone)
    parser.add_argument("--channels", type=int, nargs=3, default=list(TrackerConfig().network.backbone_channels),
                        help="mdnet: conv1-3 widths (trained from scratch)")
    parser.add_argument("--trunk-blocks", type=int, default=TrackerConfig().network.trunk_blocks,
                        help="efficientnet_lite0: MBConv blocks kept (the cut point)")
    parser.add_argument("--train-blocks", type=int, default=2,
                        help="efficientnet_lite0: how many of the last blocks learn (0: the ImageNet trunk frozen)")
    parser.add_argument("--feature-mode", choices=("shared", "exact"), default="shared",
                        help="read features off one map per frame, as the tracker does (default), or run the "
                             "backbone per crop (how tracker/pretrained/mdnet*.pt were made)")
    parser.add_argument("--trunk-lr-mult", type=float,
                        help="the conv layers' learning rate as a multiple of --lr (default: 0.1 when fine-tuning "
                             "the ImageNet trunk, 1 for mdnet trained from scratch)")
    parser.add_argument("--fc-width", type=int, default=512)
    parser.add_argument("--config", help="tracker YAML whose sample settings (batch 32 + 96, IoU 0.7 / 0.5, crop "
                                         "107 + 16, spreads, momentum, weight decay, clipping) pretraining uses too")
    parser.add_argument("--batch-frames", type=int, default=8)
    parser.add_argument("--lr", type=float, default=0.0001)
    parser.add_argument("--augment", default="flip,colour,blur", help=f"comma list of {AUGMENTATIONS} or 'none'")
    parser.add_argument("--checkpoint-every", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    check_args(args)
    return args


def check_args(args: argparse.Namespace) -> None:
    """Every bad flag refused in one line before any work starts; fills in the derived defaults."""
    args.augment = [] if args.augment == "none" else args.augment.split(",")
    bad = [a for a in args.augment if a not in AUGMENTATIONS]
    if bad:
        raise TrackerError(f"unknown augmentation {quoted(bad[0])}; choose from {AUGMENTATIONS}")
    for flag, value, lowest, highest in (
            ("iterations", args.iterations, 0, MAX_COUNT), ("threads", args.threads, 1, 1024),
            ("checkpoint-every", args.checkpoint_every, 1, MAX_COUNT), ("batch-frames", args.batch_frames, 1, 1024),
            ("fc-width", args.fc_width, 1, SIZE_BOUNDS["fc_width"]), ("seed", args.seed, 0, 2**32 - 1)):
        if not lowest <= value <= highest:
            raise TrackerError(f"--{flag} must be in {lowest} .. {highest}, got {value}")
    if not all(0 < c <= MAX_CHANNELS for c in args.channels):
        raise TrackerError(f"--channels must each be in 1 .. {MAX_CHANNELS}, got {args.channels}")
    if not 1 <= args.trunk_blocks <= N_BLOCKS:
        raise TrackerError(f"--trunk-blocks must be in 1-{N_BLOCKS}, got {args.trunk_blocks}")
    if not 0 <= args.train_blocks <= args.trunk_blocks:
        raise TrackerError(f"--train-blocks must be in 0-{args.trunk_blocks} (--trunk-blocks), got {args.train_blocks}")
    if args.trunk_lr_mult is None:
        args.trunk_lr_mult = 1.0 if args.backbone == "mdnet" else 0.1
    args.tracker_config = load_config(args.config)  # the one source of MDNet's settings, shared with the tracker
    for flag, value in (("lr", args.lr), ("trunk-lr-mult", args.trunk_lr_mult)):
        if not (math.isfinite(value) and value >= 0):
            raise TrackerError(f"--{flag} must be finite and >= 0, got {value}")


def make_trainable_backbone(args: argparse.Namespace) -> Backbone:
    """MDNet layout: seeded random, every conv learns. EfficientNet: ImageNet, the last blocks learn."""
    if args.backbone == "mdnet":
        backbone = MDNetBackbone(tuple(args.channels))
        backbone.init_random(torch.Generator().manual_seed(args.seed))
        return backbone.requires_grad_(True)
    backbone = EfficientNetLite0(args.trunk_blocks)
    backbone.load_imagenet()
    for layer in backbone.layers[len(backbone.layers) - args.train_blocks:]:
        layer.requires_grad_(True)
    return backbone


def run(args: argparse.Namespace) -> dict:
    domains = load_domains(args.data)
    out = Path(args.out)
    checkpoint = out.with_name(out.name + ".ckpt")
    # a folder, a device or a read-only place fails now, not after hours of training
    for path, flag in ((out, "--out"), (checkpoint, "checkpoint"), (out.with_suffix(".json"), "--out's record")):
        Output(path, flag, streams=False)
    trainer = Pretrainer(args, domains)
    if checkpoint.is_file():
        trainer.load_checkpoint(checkpoint)
        if trainer.step > args.iterations:
            raise TrackerError(f"checkpoint {checkpoint} is at iteration {trainer.step}, past --iterations "
                               f"{args.iterations}; delete it or ask for at least {trainer.step}")
    saved = trainer.step if checkpoint.is_file() else None
    try:
        with tqdm(total=args.iterations, initial=trainer.step, desc="pretrain", disable=args.quiet) as progress:
            while trainer.step < args.iterations:
                trainer.train_step()
                recent = np.array(trainer.history[-50:])
                progress.set_postfix(loss=f"{recent[:, 0].mean():.3f}", acc=f"{recent[:, 1].mean():.3f}")
                progress.update()
                if trainer.step % args.checkpoint_every == 0 or trainer.step == args.iterations:
                    trainer.save_checkpoint(checkpoint)
                    saved = trainer.step
    except KeyboardInterrupt:
        where = f"checkpoint {checkpoint} holds iteration {saved}" if saved is not None else "no checkpoint yet"
        print(f"interrupted: {where}; run the same command to resume", file=sys.stderr)
        raise SystemExit(130) from None
    recent = np.array(trainer.history[-100:]).reshape(-1, 2)
    trained = len(recent) > 0
    meta = {
        "architecture": {"backbone": trainer.backbone.name, **trainer.backbone.settings(),
                         "fc_width": args.fc_width, "input": args.tracker_config.network.img_size},
        "train_blocks": args.train_blocks if args.backbone != "mdnet" else None, "feature_mode": args.feature_mode,
        "trunk_lr_mult": args.trunk_lr_mult,
        "data": [d.name for d in domains], "fc_updater": args.fc_updater,
        "command": "python -m tracker.pretrain " + " ".join(sys.argv[1:]), "seed": args.seed,
        "iterations": trainer.step, "date": datetime.date.today().isoformat(),
        "final_loss": float(recent[:, 0].mean()) if trained else None,
        "final_accuracy": float(recent[:, 1].mean()) if trained else None,
    }
    # --iterations 0 exports the starting backbone alone: the tracker then draws fresh fc4/fc5 per sequence
    fc = {f"{name}.{p}": getattr(getattr(trainer.head, name), p) for name in ("fc4", "fc5") for p in ("weight", "bias")}
    save_weights(out, trainer.backbone, fc if trained else None, meta)
    write_text(out.with_suffix(".json"), json.dumps(meta, indent=2) + "\n", "--out's record")
    return meta


def main(argv: list[str] | None = None) -> int:
    return run_command(lambda: pretrain_command(parse_args(argv)))


def pretrain_command(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    keep_freed_memory()
    meta = run(args)
    if meta["final_loss"] is None:
        print(f"no iterations: the starting {meta['architecture']['backbone']} backbone alone -> {args.out}")
    else:
        print(f"pretrained {meta['iterations']} iterations: loss {meta['final_loss']:.3f}, "
              f"accuracy {meta['final_accuracy']:.3f} -> {args.out}")


if __name__ == "__main__":
    sys.exit(main())
