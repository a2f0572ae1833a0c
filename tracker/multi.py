"""Several targets at once, sharing what can be shared: the frozen trunk, its maps, and each other as negatives.

Each target is an :class:`~tracker.mdnet.MDNetTracker` of its own (fc4-fc6, sample memories, update schedule,
learner, lost flag and re-detection, learning by the configured rule) on one shared backbone. Per frame, every
target first draws its candidates (:meth:`~tracker.mdnet.MDNetTracker.propose`); targets of about the same size
(within ``SHARE_SIZE_RATIO`` in width and height) whose search regions overlap enough that one map over them all
costs no more than a map each are read off one trunk pass; then each target finishes its frame, learning the
other targets' boxes as negatives (``samples.negatives_per_other``): a target's classifier is taught what tells
it from the look-alike beside it.

Target 1 runs with the config's seed and, alone, gives the single tracker's boxes; target ``i`` runs with seed
``seed + i - 1``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from tracker.backbones import Backbone
from tracker.boxes import check_box, iou
from tracker.config import TrackerConfig
from tracker.errors import TrackerError
from tracker.features import frame_features, padded_regions
from tracker.frames import as_rgb
from tracker.limits import MAX_TARGETS
from tracker.mdnet import MDNetTracker
from tracker.tracking import FrameResult, Proposal

SHARE_SIZE_RATIO = 1.25  # targets whose widths and heights are within this ratio may share a map
DUPLICATE_IOU = 0.7  # a new box overlapping a tracked target's this much is that target again


@dataclass
class Target:
    """One tracked target: its id, its tracker and the box it was last reported at."""

    id: int
    tracker: MDNetTracker
    box: np.ndarray


class MultiTargetTracker:
    """``init(image, boxes)``, ``add(image, box) -> id``, ``remove(id)``, ``update(image) -> {id: FrameResult}``.

    Images are RGB uint8 arrays; boxes are (x, y, w, h) in pixels; ids count from 1 in the order targets were
    given, and are never reused within a sequence."""

    def __init__(self, config: TrackerConfig, backbone: Backbone,
                 fc_state: dict[str, torch.Tensor] | None = None) -> None:
        self.config = config
        self.backbone = backbone.eval()
        self.fc_state = fc_state
        self.targets: dict[int, Target] = {}
        self.next_id = 1
        self.image_size: tuple[int, int] | None = None

    @property
    def ids(self) -> list[int]:
        return list(self.targets)

    def init(self, image: np.ndarray, boxes: list | np.ndarray) -> list[int]:
        """Start a sequence on its first frame with ``boxes`` (one per target): their ids, 1, 2, ..."""
        boxes = np.asarray(boxes, dtype=np.float64)
        if boxes.ndim != 2 or boxes.shape[1] != 4 or not len(boxes):
            raise TrackerError(f"init takes one or more boxes (x, y, w, h), got an array of shape {boxes.shape}")
        self.close()
        self.targets, self.next_id = {}, 1
        image = as_rgb(image)
        self.image_size = (image.shape[1], image.shape[0])
        checked = [check_box(box, image.shape) for box in boxes]
        refuse_crowds(checked)
        for box in checked:
            self._start(image, box, [b for b in checked if b is not box])
        return self.ids

    def add(self, image: np.ndarray, box: np.ndarray) -> int:
        """A new target, given on ``image`` (the frame just tracked, or the next one, before ``update``): its id."""
        if self.image_size is None:
            return self.init(image, [box])[0]
        image = as_rgb(image)
        if (image.shape[1], image.shape[0]) != self.image_size:
            raise TrackerError(f"a target added on a {image.shape[1]}x{image.shape[0]} frame in a sequence of "
                               f"{self.image_size[0]}x{self.image_size[1]} frames")
        box = check_box(box, image.shape)
        refuse_crowds([t.box for t in self.targets.values()] + [box])
        return self._start(image, box, [t.box for t in self.targets.values()])

    def remove(self, target_id: int) -> None:
        target = self.targets.pop(target_id, None)
        if target is None:
            raise TrackerError(f"no target {target_id} to remove (tracked: {self.ids or 'none'})")
        target.tracker.close()

    def update(self, image: np.ndarray) -> dict[int, FrameResult]:
        """Every target on the next frame, in id order."""
        if not self.targets:
            raise TrackerError("a frame to track with no target: init(image, boxes) or add(image, box) first")
        proposals = {i: t.tracker.propose(image) for i, t in self.targets.items()}
        features = self._shared_maps(proposals)
        results = {}
        for i, target in self.targets.items():
            others = np.array([t.box for j, t in self.targets.items() if j != i]).reshape(-1, 4)
            results[i] = target.tracker.finish(proposals[i], features.get(i), others)
            target.box = results[i].box.copy()
        return results

    def close(self) -> None:
        for target in self.targets.values():
            target.tracker.close()

    def _start(self, image: np.ndarray, box: np.ndarray, others: list[np.ndarray]) -> int:
        target_id = self.next_id
        config = self.config.replace(seed=(self.config.seed + target_id - 1) % 2**32)
        tracker = MDNetTracker(config, self.backbone, self.fc_state)
        tracker.init(image, box, np.array(others).reshape(-1, 4))
        self.targets[target_id] = Target(target_id, tracker, box.copy())
        self.next_id += 1
        return target_id

    def _shared_maps(self, proposals: dict[int, Proposal]) -> dict:
        """One map for each group of targets that share one (``network.sample_features`` shared), by id; a target
        alone in its group reads its own map, as a single tracker does."""
        net = self.config.network
        if net.sample_features != "shared" or len(proposals) < 2:
            return {}
        out = {}
        for group in share_groups({i: (p.reference, p.candidates) for i, p in proposals.items()},
                                  net.img_size, net.padding):
            if len(group) < 2:
                continue
            sizes = np.array([proposals[i].reference[2:] for i in group])
            cover = np.concatenate([proposals[i].candidates for i in group])
            size = np.exp(np.log(sizes).mean(axis=0))  # the group's scale; centred on its search
            middle = (cover[:, :2].min(axis=0) + (cover[:, :2] + cover[:, 2:]).max(axis=0)) / 2
            reference = np.r_[middle - size / 2, size]
            shared = frame_features(self.backbone, proposals[group[0]].image, "shared", net.img_size,
                                    net.padding, reference, cover, net.max_map_side)
            out.update({i: shared for i in group})
        return out


def refuse_crowds(boxes: list[np.ndarray]) -> None:
    """One error line for more than ``MAX_TARGETS`` targets, or two boxes on one target (IoU >= ``DUPLICATE_IOU``)."""
    if len(boxes) > MAX_TARGETS:
        raise TrackerError(f"{len(boxes)} targets: at most {MAX_TARGETS} are tracked at once")
    for i, box in enumerate(boxes):
        for j in range(i):
            overlap = float(iou(np.asarray(box, float)[None], np.asarray(boxes[j], float)[None])[0])
            if overlap >= DUPLICATE_IOU:
                raise TrackerError(f"box {list(map(float, box))} overlaps the target at "
                                   f"{list(map(float, boxes[j]))} by IoU {overlap:.2f}: the same target twice?")


def share_groups(searches: dict[int, tuple[np.ndarray, np.ndarray]], img_size: int, padding: int) -> list[list[int]]:
    """Targets (id -> (reference box, candidates)) grouped to share a map: about the same size (within
    ``SHARE_SIZE_RATIO`` each way) and search regions close enough that the map over the group's is no larger
    than the group's own maps together. Greedy, in id order."""
    def area(boxes: np.ndarray, reference: np.ndarray) -> float:
        regions = padded_regions(boxes, img_size, padding)
        lo, hi = regions[:, :2].min(axis=0), (regions[:, :2] + regions[:, 2:]).max(axis=0)
        return float(np.prod((hi - lo) / reference[2:]))  # in crops of the reference's size: the trunk's cost

    groups: list[list[int]] = []
    for i, (reference, _) in searches.items():
        for group in groups:
            sizes = np.array([searches[j][0][2:] for j in group] + [reference[2:]])
            if np.any(sizes.max(axis=0) / sizes.min(axis=0) > SHARE_SIZE_RATIO):
                continue
            alone = sum(area(searches[j][1], searches[j][0]) for j in group + [i])
            together = area(np.concatenate([searches[j][1] for j in group + [i]]), reference)
            if together <= alone:
                group.append(i)
                break
        else:
            groups.append([i])
    return groups
