"""Drawing a scene of the ``shapes`` set: sprites, positions over time, frames and masks.

Every sprite comes from one cached boolean footprint per (shape, extent), pasted without
anti-aliasing, trails or blur, so twins are pixel-identical wherever they are not occluded.
"""
from __future__ import annotations

import functools

import numpy as np

from cmpcv.data.shapes.scene import COLOURS, MOTIONS, SHAPES, Actor, Scene


@functools.lru_cache(maxsize=64)
def sprite(shape: str, extent: int) -> np.ndarray:
    """Boolean footprint ``(extent, extent)`` of a shape; one cached array per (shape, extent)."""
    c = (extent - 1) / 2
    yy, xx = np.mgrid[0:extent, 0:extent].astype(np.float64)
    if shape == "circle":
        m = (yy - c) ** 2 + (xx - c) ** 2 <= (c + 0.5) ** 2
    elif shape == "square":
        inset = extent // 8  # a full square would look much heavier than the other shapes
        m = (yy >= inset) & (yy < extent - inset) & (xx >= inset) & (xx < extent - inset)
    elif shape == "triangle":  # apex up, base on the last row
        m = np.abs(xx - c) <= (yy + 1) / 2
    elif shape == "diamond":
        m = np.abs(xx - c) + np.abs(yy - c) <= c + 0.5
    elif shape == "cross":
        arm = extent / 6
        m = (np.abs(xx - c) <= arm) | (np.abs(yy - c) <= arm)
    else:
        raise ValueError(f"unknown shape {shape!r}; expected one of {list(SHAPES)}")
    m.setflags(write=False)
    return m


def actor_position(actor: Actor, scene: Scene, t: int) -> tuple[int, int]:
    """Top-left corner ``(y, x)`` of ``actor`` in frame ``t`` (0-based)."""
    dy, dx = MOTIONS[actor.motion]
    step = (t - scene.anno_index) * scene.speed
    return actor.y + dy * step, actor.x + dx * step


def footprints(scene: Scene) -> np.ndarray:
    """Unoccluded footprint of every actor in every frame, ``(N, T, H, W)`` bool (clipped at the border)."""
    out = np.zeros((len(scene.actors), scene.num_frames, scene.height, scene.width), dtype=bool)
    for i, actor in enumerate(scene.actors):
        spr = sprite(actor.shape, actor.extent)
        for t in range(scene.num_frames):
            y, x = actor_position(actor, scene, t)
            _paste(out[i, t], spr, y, x, True)
    return out


def visible_masks(scene: Scene) -> np.ndarray:
    """What each actor shows in every frame, ``(N, T, H, W)`` uint8: its footprint minus the
    footprints of the actors drawn over it (later in ``draw_order``), clipped at the border. In the
    annotated frame no actor is occluded, so there it equals :func:`render`'s masks."""
    prints = footprints(scene)
    out = np.zeros(prints.shape, dtype=np.uint8)
    above = np.zeros(prints.shape[1:], dtype=bool)
    for i in reversed(scene.draw_order):
        out[i] = prints[i] & ~above
        above |= prints[i]
    return out


def render(scene: Scene, background: tuple[int, int, int] = (30, 30, 30)) -> tuple[np.ndarray, np.ndarray]:
    """Draw a scene.

    Returns ``frames`` ``(T, H, W, 3)`` uint8 and ``masks`` ``(N, H, W)`` uint8, the footprint of each
    actor in the annotated frame (no actor is occluded there, by construction).
    """
    frames = np.empty((scene.num_frames, scene.height, scene.width, 3), dtype=np.uint8)
    frames[:] = np.asarray(background, dtype=np.uint8)
    for i in scene.draw_order:
        actor = scene.actors[i]
        spr = sprite(actor.shape, actor.extent)
        colour = np.asarray(COLOURS[actor.colour], dtype=np.uint8)
        for t in range(scene.num_frames):
            y, x = actor_position(actor, scene, t)
            _paste(frames[t], spr, y, x, colour)
    masks = np.zeros((len(scene.actors), scene.height, scene.width), dtype=np.uint8)
    for i, actor in enumerate(scene.actors):
        _paste(masks[i], sprite(actor.shape, actor.extent), actor.y, actor.x, 1)
    return frames, masks


def _paste(canvas: np.ndarray, spr: np.ndarray, y: int, x: int, value) -> None:
    """Set ``canvas[y:y+e, x:x+e][spr] = value``, clipping the parts outside the canvas."""
    e = spr.shape[0]
    h, w = canvas.shape[:2]
    y0, x0, y1, x1 = max(y, 0), max(x, 0), min(y + e, h), min(x + e, w)
    if y0 >= y1 or x0 >= x1:
        return
    region = canvas[y0:y1, x0:x1]
    region[spr[y0 - y : y1 - y, x0 - x : x1 - x]] = value
