"""Mask boundaries and the "within the tolerance disk" test of the DAVIS contour accuracy F.

The DAVIS-2017 measure draws a one-pixel boundary of each mask, dilates both boundaries with a
disk of radius ``r`` (``x^2 + y^2 <= r^2``, nothing entering from outside the frame) and counts
the boundary pixels of one mask that fall on the dilated boundary of the other. Here each
boundary is kept as its list of pixels plus, computed at most once per mask, the set of pixels
within ``r`` of it (its *cover*) over the boundary's bounding box grown by ``r``. Counting the
matches of a pair is then a lookup of one boundary's pixels in the other's cover, so a frame
with ``R`` proposals and ``N`` objects costs ``R + N`` covers instead of ``2 R N`` dilations.

The cover is built row by row: a disk centred on ``(y, x)`` covers, on row ``y + dy``, the
columns ``x - w .. x + w`` with ``w = isqrt(r^2 - dy^2)``; the intervals of every boundary pixel
are added as +1/-1 steps and a cumulative sum along each row marks the covered pixels. For
integer offsets this is exactly the disk test, so the counts equal those of the dilation.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

__all__ = ["Contour", "boundary_map", "contours_of_labels", "tolerance_radius"]


def tolerance_radius(shape: tuple[int, ...], bound_th: float = 0.008) -> int:
    """The disk radius in pixels: ``bound_th`` itself when it is >= 1 (an integer), otherwise
    ``ceil(bound_th * ||(H, W)||)``, i.e. 0.8 % of the frame diagonal by default."""
    if bound_th >= 1:
        if bound_th != int(bound_th):
            raise ValueError(f"bound_th >= 1 is a radius in pixels and must be an integer, got {bound_th}")
        return int(bound_th)
    if bound_th < 0:
        raise ValueError(f"bound_th must be >= 0, got {bound_th}")
    # The same float expression as the DAVIS toolkit, so the rounding up agrees exactly.
    return int(np.ceil(bound_th * np.linalg.norm(shape[-2:])))


def boundary_map(mask: np.ndarray) -> np.ndarray:
    """The ``(H, W)`` bool one-pixel boundary of a mask, as the DAVIS toolkit draws it.

    A pixel is on the boundary when it differs from its east, south or south-east neighbour
    (pixels beyond the frame count as background), so the line sits half a pixel towards the
    origin. On the last row only the east neighbour is compared, on the last column only the
    south one, and the bottom-right pixel is never on it; a mask covering the whole frame
    therefore has no boundary at all.
    """
    seg = np.asarray(mask).astype(bool)
    if seg.ndim != 2:
        raise ValueError(f"boundary_map expects an (H, W) mask, got shape {seg.shape}")
    east = np.zeros_like(seg)
    south = np.zeros_like(seg)
    south_east = np.zeros_like(seg)
    east[:, :-1] = seg[:, 1:]
    south[:-1, :] = seg[1:, :]
    south_east[:-1, :-1] = seg[1:, 1:]
    edge = (seg ^ east) | (seg ^ south) | (seg ^ south_east)
    edge[-1, :] = seg[-1, :] ^ east[-1, :]
    edge[:, -1] = seg[:, -1] ^ south[:, -1]
    edge[-1, -1] = False
    return edge


def _grown(box: tuple[slice, slice], shape: tuple[int, int]) -> tuple[slice, slice]:
    """A mask's bounding box grown by one pixel on every side (clipped to the frame).

    Its boundary lies inside: the pixels up and left of the mask may be on it, and the extra
    row and column below and right supply the neighbours of the mask's last row and column.
    Where the grown box stops inside the frame, its last row and column are background with
    background neighbours, so the last-row and last-column rules give the same answer there as
    on the full frame.
    """
    rows, cols = box
    return (slice(max(rows.start - 1, 0), min(rows.stop + 1, shape[0])),
            slice(max(cols.start - 1, 0), min(cols.stop + 1, shape[1])))


class Contour:
    """The boundary pixels of one mask (row-major order) and, on demand, their cover.

    ``ys``, ``xs``: ``(n,)`` int64 pixel coordinates in the frame of size ``shape``.
    """

    __slots__ = ("ys", "xs", "shape", "_box", "_cover")

    def __init__(self, ys: np.ndarray, xs: np.ndarray, shape: tuple[int, int]) -> None:
        self.ys = ys.astype(np.int64, copy=False)
        self.xs = xs.astype(np.int64, copy=False)
        self.shape = (int(shape[0]), int(shape[1]))
        self._box = None if ys.size == 0 else (int(ys.min()), int(ys.max()), int(xs.min()), int(xs.max()))
        self._cover: dict[int, tuple[int, int, np.ndarray]] = {}

    def __len__(self) -> int:
        return int(self.ys.size)

    @classmethod
    def empty(cls, shape: tuple[int, int]) -> Contour:
        none = np.zeros(0, np.int64)
        return cls(none, none, shape)

    @classmethod
    def of_mask(cls, mask: np.ndarray) -> Contour:
        """The boundary of an ``(H, W)`` mask (any dtype; non-zero is foreground)."""
        mask = np.asarray(mask)
        if mask.ndim != 2:
            raise ValueError(f"expected an (H, W) mask, got shape {mask.shape}")
        rows = np.flatnonzero(mask.any(axis=1))
        if rows.size == 0:
            return cls.empty(mask.shape)
        cols = np.flatnonzero(mask.any(axis=0))
        box = (slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1))
        return cls._in_box(mask != 0, box, mask.shape)

    @classmethod
    def _in_box(cls, seg: np.ndarray, box: tuple[slice, slice], shape: tuple[int, int]) -> Contour:
        rows, cols = _grown(box, shape)
        ys, xs = np.nonzero(boundary_map(seg[rows, cols]))
        return cls(ys + rows.start, xs + cols.start, shape)

    def near(self, other: Contour, radius: int) -> bool:
        """Whether the two bounding boxes come within ``radius`` (a necessary condition for any
        pixel of one to lie within ``radius`` of the other)."""
        if self._box is None or other._box is None:
            return False
        a, b = self._box, other._box
        return (a[0] <= b[1] + radius and b[0] <= a[1] + radius
                and a[2] <= b[3] + radius and b[2] <= a[3] + radius)

    def cover(self, radius: int) -> tuple[int, int, np.ndarray]:
        """``(y0, x0, covered)``: the pixels within ``radius`` of the boundary, as a bool array
        over the boundary's box grown by ``radius`` (clipped to the frame) at offset
        ``(y0, x0)``. Computed once per radius."""
        cached = self._cover.get(radius)
        if cached is not None:
            return cached
        height, width = self.shape
        if self._box is None:
            cached = (0, 0, np.zeros((0, 0), bool))
        else:
            y0, x0 = max(self._box[0] - radius, 0), max(self._box[2] - radius, 0)
            h = min(self._box[1] + radius + 1, height) - y0
            w = min(self._box[3] + radius + 1, width) - x0
            dy = np.arange(-radius, radius + 1)
            half = np.array([math.isqrt(radius * radius - int(d) * int(d)) for d in dy], np.int64)
            rows = (self.ys - y0)[None, :] + dy[:, None]
            inside = (rows >= 0) & (rows < h)
            xs = (self.xs - x0)[None, :]
            stride = w + 1  # one spare column per row takes the end steps of intervals reaching w
            start = rows * stride + np.maximum(xs - half[:, None], 0)
            stop = rows * stride + np.minimum(xs + half[:, None] + 1, w)
            # int32 steps: at most (2 r + 1)^2 intervals overlap a pixel
            steps = np.bincount(start[inside], minlength=h * stride).astype(np.int32)
            steps -= np.bincount(stop[inside], minlength=h * stride).astype(np.int32)
            covered = np.cumsum(steps.reshape(h, stride), axis=1, dtype=np.int32)[:, :w] > 0
            cached = (y0, x0, covered)
        self._cover[radius] = cached
        return cached

    def count_within(self, other: Contour, radius: int) -> int:
        """How many pixels of this boundary lie within ``radius`` of ``other``'s boundary."""
        if not self.near(other, radius):
            return 0
        y0, x0, covered = other.cover(radius)
        iy = self.ys - y0
        ix = self.xs - x0
        ok = (iy >= 0) & (iy < covered.shape[0]) & (ix >= 0) & (ix < covered.shape[1])
        return int(np.count_nonzero(covered[iy[ok], ix[ok]]))


def contours_of_labels(labels: np.ndarray, count: int) -> list[Contour]:
    """The contours of the masks ``labels == k`` for ``k = 1 .. count`` of an ``(H, W)`` label
    image, each computed inside its own bounding box (one pass over the frame finds them all)."""
    labels = np.asarray(labels)
    shape = labels.shape
    boxes = ndimage.find_objects(labels, max_label=count) if count > 0 else []
    out = []
    for k, box in enumerate(boxes, start=1):
        if box is None:
            out.append(Contour.empty(shape))
            continue
        rows, cols = _grown(box, shape)
        ys, xs = np.nonzero(boundary_map(labels[rows, cols] == k))
        out.append(Contour(ys + rows.start, xs + cols.start, shape))
    return out
