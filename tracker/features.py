"""Features of many boxes in one frame: per-candidate crops ("exact") or one shared map ("shared").

Both modes produce the same layout, (n, C * 9): the backbone's features at each box's 3x3 sample
cells. Two geometries meet here and are kept apart:

- where a box's sample cells lie in its padded 107x107 crop (:func:`sample_cells`: MDNet's conv3
  grid, 37.5 + 16 i crop pixels, whatever the backbone);
- where the backbone's map cells are centred on its input (``Backbone.cell_offset + stride * i``).

Each sample cell is read off the map by bilinear interpolation at its point. ``exact`` runs the
backbone on each box's own crop; ``shared`` runs it once over the region the boxes cover, resized
so that the reference box has the size it has in a crop (RT-MDNet's idea). For the MDNet layout the
sample cells fall exactly on conv3's cells, so exact mode reads conv3's 3x3 output unchanged.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from tracker.backbones import Backbone
from tracker.boxes import about_centres, centres

MEAN_PIXEL = 128.0  # fills crop pixels outside the image
BATCH = 256
CELLS = 3
# MDNet's sample cells as fractions of the 107-pixel crop: conv3 cells centred at 37.5 + 16 i
CELL_SPACING = 16 / 107


def feature_dim(backbone: Backbone) -> int:
    """Length of one box's feature vector: the backbone's channels at each of its CELLS x CELLS cells."""
    return backbone.out_channels * CELLS ** 2


def sample_cells(img_size: int) -> np.ndarray:
    """Centres of a box's CELLS sample cells along each axis of its crop, in crop pixels."""
    return img_size * (0.5 + CELL_SPACING * (np.arange(CELLS) - (CELLS - 1) / 2))


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


def read_cells(maps: torch.Tensor, points: np.ndarray, backbone: Backbone) -> torch.Tensor:
    """Features at input-pixel ``points`` (n, CELLS, 2) of ``maps`` (1 or n, C, h, w), as (n, C * CELLS^2).

    Bilinear, differentiable; a point on a map cell's centre reads that cell exactly.
    """
    n = len(points)
    cells = (points - backbone.cell_offset) / backbone.stride  # fractional map cell
    _, channels, height, width = maps.shape
    norm = 2 * cells / np.maximum(np.array([width - 1, height - 1]), 1) - 1
    gx = np.broadcast_to(norm[:, None, :, 0], (n, CELLS, CELLS))  # [box, row, col]
    gy = np.broadcast_to(norm[:, :, None, 1], (n, CELLS, CELLS))
    grid = torch.from_numpy(np.stack([gx, gy], -1)).float()
    if len(maps) == 1:  # one shared map: every box's cells in one grid
        grid = grid.reshape(1, n * CELLS, CELLS, 2)
    sampled = F.grid_sample(maps, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    if len(maps) == 1:
        return sampled[0].view(channels, n, CELLS, CELLS).permute(1, 0, 2, 3).reshape(n, -1)
    return sampled.reshape(n, -1)


def crop_features(backbone: Backbone, crops: torch.Tensor, img_size: int) -> torch.Tensor:
    """Features of float crops (n, 3, s, s), 0..255, whose first ``img_size`` pixels are the boxes' padded crops.

    Differentiable (pretraining back-propagates through it). ``s`` is ``backbone.input_side(img_size)``:
    the crop grown right and down to a size at which the backbone's geometry holds.
    """
    maps = backbone(backbone.normalize_float(crops))
    cells = sample_cells(img_size)
    points = np.broadcast_to(np.stack([cells, cells], -1), (len(crops), CELLS, 2))
    return read_cells(maps, points, backbone)


def frame_tensor(image: np.ndarray) -> torch.Tensor:
    """uint8 H x W x 3 -> float (1, 3, H, W) less the mean pixel, so that sampling outside reads the mean pixel."""
    return torch.from_numpy(image).permute(2, 0, 1)[None].float() - MEAN_PIXEL


def sample_crops(frame: torch.Tensor, regions: np.ndarray, side: int) -> torch.Tensor:
    """Regions (n, 4) of ``frame`` (from :func:`frame_tensor`) resampled to side x side, float (n, 3, side, side).

    One ``grid_sample`` for all n crops, the same bilinear resampling as :func:`warp_region`: output pixel p
    has centre p + 0.5, image point x + (p + 0.5) * w / side.
    """
    n = len(regions)
    _, _, height, width = frame.shape
    steps = (np.arange(side) + 0.5) / side
    xs = 2 * (regions[:, 0:1] + steps * regions[:, 2:3]) / width - 1  # (n, side), grid_sample's [-1, 1]
    ys = 2 * (regions[:, 1:2] + steps * regions[:, 3:4]) / height - 1
    grid = np.stack(np.broadcast_arrays(xs[:, None, :], ys[:, :, None]), -1)  # (n, side rows, side cols, 2)
    grid = torch.from_numpy(grid.reshape(1, n * side, side, 2)).float()
    crops = F.grid_sample(frame, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return crops[0].view(3, n, side, side).transpose(0, 1) + MEAN_PIXEL


class FrameFeatures:
    """Features of boxes in one frame. ``contains`` says which boxes this frame's features cover.

    ``differentiable``: keep the autograd graph (pretraining learns through the features it reads).
    """

    def __init__(self, backbone: Backbone, image: np.ndarray, img_size: int, padding: int,
                 differentiable: bool = False) -> None:
        self.backbone = backbone
        self.image = image
        self.img_size = img_size
        self.padding = padding
        self.differentiable = differentiable
        self._frame: torch.Tensor | None = None

    def contains(self, boxes: np.ndarray) -> np.ndarray:
        return np.ones(len(np.atleast_2d(boxes)), dtype=bool)

    def extract(self, boxes: np.ndarray) -> torch.Tensor:
        """Exact mode: crop every box and run the backbone on each crop, ``BATCH`` crops a pass.

        Each crop is grown right and down at its scale to the backbone's input side.
        """
        regions = padded_regions(boxes, self.img_size, self.padding)
        side = self.backbone.input_side(self.img_size)
        regions[:, 2:] *= side / self.img_size
        if self._frame is None:
            self._frame = frame_tensor(self.image)
        with torch.inference_mode(not self.differentiable):
            out = [crop_features(self.backbone, sample_crops(self._frame, regions[i:i + BATCH], side), self.img_size)
                   for i in range(0, len(regions), BATCH)]
        return torch.cat(out) if out else torch.zeros(0, feature_dim(self.backbone))


class SharedFrameFeatures(FrameFeatures):
    """One backbone pass over ``region`` (x, y, w, h), resized so ``reference`` is crop-sized."""

    def __init__(self, backbone: Backbone, image: np.ndarray, img_size: int, padding: int,
                 reference: np.ndarray, region: np.ndarray, max_side: int = 1024, differentiable: bool = False) -> None:
        super().__init__(backbone, image, img_size, padding, differentiable)
        ref_region = padded_regions(reference, img_size, padding)[0]
        self.scale = np.array([img_size / ref_region[2], img_size / ref_region[3]])
        x0, y0, w, h = region
        out_w = backbone.input_side(int(np.clip(np.ceil(w * self.scale[0]), img_size, max_side)))
        out_h = backbone.input_side(int(np.clip(np.ceil(h * self.scale[1]), img_size, max_side)))
        # a region too large for max_side is cut down around the reference box
        cx, cy = x0 + w / 2, y0 + h / 2
        if out_w >= max_side:
            cx = reference[0] + reference[2] / 2
        if out_h >= max_side:
            cy = reference[1] + reference[3] / 2
        self.origin = np.array([cx - out_w / self.scale[0] / 2, cy - out_h / self.scale[1] / 2])
        self.size = np.array([out_w / self.scale[0], out_h / self.scale[1]])
        resized = warp_region(image, np.r_[self.origin, self.size], out_w, out_h)
        with torch.inference_mode(not differentiable):
            self.map = backbone(backbone.normalize(resized[None]))  # (1, C, Hf, Wf)

    def contains(self, boxes: np.ndarray) -> np.ndarray:
        regions = padded_regions(boxes, self.img_size, self.padding)
        slack = 0.5 * self.backbone.stride / self.scale  # half a cell, in image pixels
        inside_lo = regions[:, :2] >= self.origin - slack
        inside_hi = regions[:, :2] + regions[:, 2:] <= self.origin + self.size + slack
        return np.all(inside_lo & inside_hi, axis=1)

    def extract(self, boxes: np.ndarray) -> torch.Tensor:
        regions = padded_regions(boxes, self.img_size, self.padding)
        if len(regions) == 0:
            return torch.zeros(0, feature_dim(self.backbone))
        # crop pixel c of a box is image point region_x + c * region_w / img_size; map pixel q is origin + q / scale
        cells = sample_cells(self.img_size)[None, :, None] / self.img_size
        points = regions[:, None, :2] + cells * regions[:, None, 2:]
        with torch.inference_mode(not self.differentiable):
            return read_cells(self.map, (points - self.origin) * self.scale, self.backbone)


def frame_features(backbone: Backbone, image: np.ndarray, mode: str, img_size: int, padding: int,
                   reference: np.ndarray, cover: np.ndarray, max_side: int = 1024,
                   differentiable: bool = False, fit: bool = False) -> FrameFeatures:
    """Features for boxes of ``image``; in shared mode the map covers the crops of ``cover`` boxes.

    A map that would exceed ``max_side`` at ``reference``'s crop scale is cut around ``reference``; with ``fit``
    it is read at a coarser scale instead (``reference`` grown about its centre), so every ``cover`` box is in it.
    """
    if mode == "exact":
        return FrameFeatures(backbone, image, img_size, padding, differentiable)
    regions = padded_regions(cover, img_size, padding)
    lo = regions[:, :2].min(axis=0)
    hi = (regions[:, :2] + regions[:, 2:]).max(axis=0)
    if fit:
        # crop scale is img_size per padded box side; two strides of room for rounding up to the trunk's sides
        reference_side = padded_regions(reference, img_size, padding)[0, 2:]
        coarser = max(1.0, float(np.max((hi - lo) / reference_side * img_size / (max_side - 2 * backbone.stride))))
        reference = about_centres(centres(reference), reference[2:] * coarser)
    return SharedFrameFeatures(backbone, image, img_size, padding, reference, np.r_[lo, hi - lo], max_side,
                               differentiable)
