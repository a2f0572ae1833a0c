"""Features of many boxes in one frame: per-candidate crops ("exact") or one shared map ("shared").

Both modes produce the same layout, (n, C3 * 9) conv3 features of each box's padded 107x107 crop.
``shared`` runs the backbone once over the region the boxes cover, resized so that the reference
box has the size it has in a crop, then reads each box's 3x3 conv3 cells off that map by bilinear
crop-and-resize at the positions where an exact crop's cells would lie (RT-MDNet's idea).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from tracker.backbone import Backbone

MEAN_PIXEL = 128.0
BATCH = 256


def padded_regions(boxes: np.ndarray, img_size: int, padding: int) -> np.ndarray:
    """The (x, y, w, h) image region each box's crop shows: the box plus ``padding`` at crop scale."""
    boxes = np.atleast_2d(boxes).astype(np.float64)
    grow = (img_size + 2 * padding) / img_size
    centres = boxes[:, :2] + boxes[:, 2:] / 2
    sizes = boxes[:, 2:] * grow
    return np.concatenate([centres - sizes / 2, sizes], axis=1)


def warp_region(image: np.ndarray, region: np.ndarray, out_w: int, out_h: int) -> np.ndarray:
    """Region (x, y, w, h) of ``image`` resampled to out_w x out_h, outside filled with the mean pixel."""
    x, y, w, h = region
    sx, sy = w / out_w, h / out_h
    # output pixel p has centre p + 0.5, which is image point x + (p + 0.5) * sx (OpenCV: centre = index)
    matrix = np.array([[sx, 0, x + 0.5 * sx - 0.5], [0, sy, y + 0.5 * sy - 0.5]], dtype=np.float64)
    return cv2.warpAffine(image, matrix, (out_w, out_h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(MEAN_PIXEL,) * 3)


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (n, h, w, 3) -> float (n, 3, h, w) with the mean pixel subtracted (py-MDNet)."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() - MEAN_PIXEL


class FrameFeatures:
    """Features of boxes in one frame. ``contains`` says which boxes this frame's features cover."""

    def __init__(self, backbone: Backbone, image: np.ndarray, img_size: int, padding: int) -> None:
        self.backbone = backbone
        self.image = image
        self.img_size = img_size
        self.padding = padding

    def contains(self, boxes: np.ndarray) -> np.ndarray:
        return np.ones(len(np.atleast_2d(boxes)), dtype=bool)

    @torch.inference_mode()
    def extract(self, boxes: np.ndarray) -> torch.Tensor:
        """Exact mode: crop every box and run the backbone on each crop."""
        regions = padded_regions(boxes, self.img_size, self.padding)
        out = []
        for start in range(0, len(regions), BATCH):
            crops = np.stack([warp_region(self.image, r, self.img_size, self.img_size)
                              for r in regions[start:start + BATCH]])
            out.append(self.backbone(to_tensor(crops)).flatten(1))
        if not out:
            return torch.zeros(0, self.backbone.out_dim)
        return torch.cat(out)


class SharedFrameFeatures(FrameFeatures):
    """One backbone pass over ``region`` (x, y, w, h), resized so ``reference`` is crop-sized."""

    def __init__(self, backbone: Backbone, image: np.ndarray, img_size: int, padding: int,
                 reference: np.ndarray, region: np.ndarray, max_side: int = 1024) -> None:
        super().__init__(backbone, image, img_size, padding)
        ref_region = padded_regions(reference, img_size, padding)[0]
        self.scale = np.array([img_size / ref_region[2], img_size / ref_region[3]])
        x0, y0, w, h = region
        out_w = int(np.clip(np.ceil(w * self.scale[0]), img_size, max_side))
        out_h = int(np.clip(np.ceil(h * self.scale[1]), img_size, max_side))
        # a region too large for max_side is cut down around the reference box
        cx, cy = x0 + w / 2, y0 + h / 2
        if out_w == max_side:
            cx = reference[0] + reference[2] / 2
        if out_h == max_side:
            cy = reference[1] + reference[3] / 2
        self.origin = np.array([cx - out_w / self.scale[0] / 2, cy - out_h / self.scale[1] / 2])
        self.size = np.array([out_w / self.scale[0], out_h / self.scale[1]])
        resized = warp_region(image, np.r_[self.origin, self.size], out_w, out_h)
        with torch.inference_mode():
            self.map = backbone(to_tensor(resized[None]))  # (1, C, Hf, Wf)

    def contains(self, boxes: np.ndarray) -> np.ndarray:
        regions = padded_regions(boxes, self.img_size, self.padding)
        slack = 0.5 * self.backbone.stride / self.scale  # half a cell, in image pixels
        inside_lo = regions[:, :2] >= self.origin - slack
        inside_hi = regions[:, :2] + regions[:, 2:] <= self.origin + self.size + slack
        return np.all(inside_lo & inside_hi, axis=1)

    @torch.inference_mode()
    def extract(self, boxes: np.ndarray) -> torch.Tensor:
        regions = padded_regions(boxes, self.img_size, self.padding)
        n = len(regions)
        if n == 0:
            return torch.zeros(0, self.backbone.out_dim)
        stride, offset = self.backbone.stride, self.backbone.cell_offset
        # crop pixel c of a box lies at image point region_x + c * region_w / img_size; map pixel q at
        # origin + q / scale; map cell i is centred on pixel stride * i + offset.
        cells = offset + stride * np.arange(3)  # cell centres in crop pixels
        points = regions[:, None, :2] + cells[None, :, None] * regions[:, None, 2:] / self.img_size  # (n, 3, 2)
        indices = ((points - self.origin) * self.scale - offset) / stride  # fractional map cell
        _, channels, height, width = self.map.shape
        norm = 2 * indices / np.maximum(np.array([width - 1, height - 1]), 1) - 1
        gx = np.broadcast_to(norm[:, None, :, 0], (n, 3, 3))  # [box, row, col]
        gy = np.broadcast_to(norm[:, :, None, 1], (n, 3, 3))
        grid = torch.from_numpy(np.stack([gx, gy], -1).reshape(1, n * 3, 3, 2)).float()
        sampled = F.grid_sample(self.map, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
        return sampled[0].view(channels, n, 3, 3).permute(1, 0, 2, 3).reshape(n, -1)


def frame_features(backbone: Backbone, image: np.ndarray, mode: str, img_size: int, padding: int,
                   reference: np.ndarray, cover: np.ndarray, max_side: int = 1024) -> FrameFeatures:
    """Features for boxes of ``image``; in shared mode the map covers the crops of ``cover`` boxes."""
    if mode == "exact":
        return FrameFeatures(backbone, image, img_size, padding)
    regions = padded_regions(cover, img_size, padding)
    lo = regions[:, :2].min(axis=0)
    hi = (regions[:, :2] + regions[:, 2:]).max(axis=0)
    return SharedFrameFeatures(backbone, image, img_size, padding, reference, np.r_[lo, hi - lo], max_side)
