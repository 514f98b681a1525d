"""Scenes of the synthetic ``shapes`` set: what a scene holds and how one is sampled.

Pure numpy, no I/O. A *scene* is a short clip of 2-4 flat-coloured actors on a plain background.
Each actor has a shape (entity), a colour and a size (attributes), a position in the annotated
frame (relations) and a constant motion (actions). Every scene is built around one *kind*, the
word type that is necessary to tell its two referred actors apart:

- ``entity``: the two referred actors are the only actors of their shapes;
- ``attribute``: the two referred actors share a shape (and their motion) and differ in exactly
  one of colour or size;
- ``relation``: the two referred actors are twins (same shape, colour, size and motion) on
  opposite sides of a third actor, the *landmark*, whose shape is unique;
- ``action``: the two referred actors are twins that differ only in motion, and every other actor
  lies on the same side of both twins along both axes, so no relation tells them apart.

Why the layout is sampled the way it is (the ``action`` subset must not leak motion into the
annotated frame): positions in the annotated frame are drawn uniformly, on integers, with the same
rule for every motion; motions are assigned to actors only *after* the layout is fixed; sprites are
drawn from one cached boolean footprint per (shape, size) with no anti-aliasing, trails or blur
(:mod:`cmpcv.data.shapes.draw`), so twins are pixel-identical wherever they are not occluded; and
actors never overlap in the annotated frame. Outside it, moving actors may overlap or leave the
picture (drawn clipped). The sentences are in :mod:`cmpcv.data.shapes.sentences`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

KINDS: tuple[str, ...] = ("entity", "attribute", "relation", "action")

#: RGB fill of each colour word; saturated and far apart so they survive H.264 4:2:0 chroma.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (225, 35, 35),
    "green": (35, 195, 65),
    "blue": (45, 95, 240),
    "yellow": (240, 220, 35),
    "white": (245, 245, 245),
    "purple": (160, 55, 215),
    "orange": (250, 140, 25),
    "cyan": (35, 215, 225),
}
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "diamond", "cross")
#: Sprite side in pixels for a 64-pixel frame; scaled with the frame and kept odd (integer centre).
SIZES: dict[str, int] = {"small": 11, "big": 17}
#: Unit step (dy, dx) per frame of each motion word.
MOTIONS: dict[str, tuple[int, int]] = {
    "left": (0, -1),
    "right": (0, 1),
    "up": (-1, 0),
    "down": (1, 0),
    "still": (0, 0),
}
#: Relation word -> (axis, sign): ``A rel B`` holds when ``sign * (centre_A - centre_B)[axis] > 0``.
RELATIONS: dict[str, tuple[int, int]] = {"left": (1, -1), "right": (1, 1), "above": (0, -1), "below": (0, 1)}
OPPOSITE: dict[str, str] = {"left": "right", "right": "left", "above": "below", "below": "above"}
#: CMPC's word types, in the order of the model's ``word_probs``.
WORD_TYPES: tuple[str, ...] = ("entity", "attribute", "relation", "action", "unnecessary")


@dataclass(frozen=True)
class Actor:
    """One actor; ``y``, ``x`` are the integer top-left corner of its sprite in the annotated frame."""

    shape: str
    colour: str
    size: str
    motion: str
    y: int
    x: int
    extent: int  # sprite side in pixels

    @property
    def centre(self) -> tuple[int, int]:
        return self.y + self.extent // 2, self.x + self.extent // 2

    @property
    def appearance(self) -> tuple[str, str, str]:
        return self.shape, self.colour, self.size

    def box(self) -> tuple[int, int, int, int]:
        """``(x1, y1, x2, y2)`` of the sprite in the annotated frame, inclusive pixel corners."""
        return self.x, self.y, self.x + self.extent - 1, self.y + self.extent - 1

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Scene:
    """A sampled clip. ``referents`` are the two actors the sentences describe, ``landmark`` the
    third actor of a ``relation`` scene, ``relation`` the relation word true for ``referents[0]``
    with respect to the landmark (``referents[1]`` satisfies its opposite)."""

    kind: str
    actors: tuple[Actor, ...]
    referents: tuple[int, int]
    height: int
    width: int
    num_frames: int
    anno_index: int  # 0-based index of the annotated frame
    speed: int  # pixels per frame of every moving actor
    draw_order: tuple[int, ...]
    landmark: int | None = None
    relation: str | None = None


@dataclass(frozen=True)
class SceneParams:
    """What a scene may contain. ``size`` is the (square, even) frame side."""

    size: int = 64
    num_frames: int = 16
    speed: int = 4
    shapes: tuple[str, ...] = ("circle", "square", "triangle", "diamond")
    colours: tuple[str, ...] = ("red", "green", "blue", "yellow")
    sizes: tuple[str, ...] = ("small", "big")
    motions: tuple[str, ...] = ("left", "right", "still")
    relations: tuple[str, ...] = ("left", "right", "above", "below")
    min_actors: int = 2
    max_actors: int = 4
    gap: int = 2  # minimum empty pixels between two sprites in the annotated frame
    relation_margin: int = 3  # minimum centre offset along the axis for a relation to hold
    background: tuple[int, int, int] = (30, 30, 30)

    def __post_init__(self) -> None:
        def bad(what: str) -> ValueError:
            return ValueError(f"shapes scene parameters: {what}")

        if self.size < 32 or self.size % 2:
            raise bad(f"size must be an even number >= 32 (H.264 needs even sides), got {self.size}")
        if self.num_frames < 2:
            raise bad(f"num_frames must be >= 2, got {self.num_frames}")
        if self.speed < 1:
            raise bad(f"speed must be >= 1 pixel per frame, got {self.speed}")
        for name, values, known in (
            ("shapes", self.shapes, SHAPES),
            ("colours", self.colours, COLOURS),
            ("sizes", self.sizes, SIZES),
            ("motions", self.motions, MOTIONS),
            ("relations", self.relations, RELATIONS),
        ):
            unknown = [v for v in values if v not in known]
            if unknown or len(set(values)) != len(values):
                raise bad(f"{name}={list(values)} must be distinct values among {list(known)}")
        if len(self.shapes) < 3:
            raise bad("need at least 3 shapes (a relation scene has twins, a landmark and others)")
        if len(self.motions) < 2:
            raise bad("need at least 2 motions (action twins differ in motion)")
        if len(self.colours) < 2 or len(self.sizes) < 1:
            raise bad("need at least 2 colours and 1 size (attribute pairs differ in one of them)")
        lonely = [r for r in self.relations if OPPOSITE[r] not in self.relations]
        if lonely or not self.relations:
            # Relation twins sit on opposite sides of the landmark: each needs its own word.
            raise bad(f"relations={list(self.relations)} must come in opposite pairs (left/right, above/below)")
        if not 2 <= self.min_actors <= self.max_actors:
            raise bad(f"need 2 <= min_actors <= max_actors, got {self.min_actors}, {self.max_actors}")

    @property
    def anno_index(self) -> int:
        """0-based annotated frame: the middle one, so motion is visible before and after it."""
        return self.num_frames // 2

    def extent(self, size_word: str) -> int:
        side = round(SIZES[size_word] * self.size / 64)
        return side if side % 2 else side + 1


# ---------------------------------------------------------------------------------------------
# Sampling


def sample_scene(
    kind: str, params: SceneParams, rng: np.random.Generator, max_tries: int = 1000, *,
    variant: int | None = None,
) -> Scene:
    """Sample a scene of ``kind`` (one of :data:`KINDS`).

    ``variant`` (attribute scenes): which attribute tells the pair apart, cycling through colour
    and size, so a split can hold both in equal numbers; ``None`` draws it from ``rng``.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown scene kind {kind!r}; expected one of {list(KINDS)}")
    low = 3 if kind == "relation" else params.min_actors
    n = int(rng.integers(low, max(low, params.max_actors) + 1))
    looks, motions, landmark = _sample_looks(kind, n, params, rng, variant)
    extents = [params.extent(size) for _, _, size in looks]
    for _ in range(max_tries):
        corners = _sample_layout(extents, params, rng)
        if corners is None:
            continue
        relation = None
        if kind == "relation":
            relation = _split_relation(corners, extents, landmark, params, rng)
            if relation is None:
                continue
        if kind == "action" and not _no_usable_relation(corners, extents, params):
            continue
        break
    else:
        raise RuntimeError(f"could not lay out a {kind} scene of {n} actors in {max_tries} tries; "
                           f"make the frame larger or the sprites fewer")
    if kind == "action":
        # Motions are assigned only now, after the layout: where a twin stands says nothing about it.
        twin_motions = rng.choice(len(params.motions), size=2, replace=False)
        motions[0], motions[1] = (params.motions[int(k)] for k in twin_motions)
    actors = tuple(
        Actor(shape=s, colour=c, size=z, motion=m, y=int(cy), x=int(cx), extent=e)
        for (s, c, z), m, (cy, cx), e in zip(looks, motions, corners, extents)
    )
    return Scene(
        kind=kind,
        actors=actors,
        referents=(0, 1),
        height=params.size,
        width=params.size,
        num_frames=params.num_frames,
        anno_index=params.anno_index,
        speed=params.speed,
        draw_order=tuple(int(i) for i in rng.permutation(n)),
        landmark=landmark,
        relation=relation,
    )


def _sample_looks(
    kind: str, n: int, params: SceneParams, rng: np.random.Generator, variant: int | None = None
):
    """Appearances and motions of ``n`` actors; actors 0 and 1 are the referents.

    Returns ``(looks, motions, landmark)`` with ``looks[i] = (shape, colour, size)``; action twins
    get placeholder motions, assigned after the layout.
    """
    def pick(values, exclude=()):
        allowed = [v for v in values if v not in exclude]
        return allowed[int(rng.integers(len(allowed)))]

    def look(shape):
        return shape, pick(params.colours), pick(params.sizes)

    landmark = None
    if kind == "entity":
        s0 = pick(params.shapes)
        s1 = pick(params.shapes, (s0,))
        looks = [look(s0), look(s1)] + [look(pick(params.shapes, (s0, s1))) for _ in range(n - 2)]
        motions = [pick(params.motions) for _ in range(n)]
        return looks, motions, landmark
    shape = pick(params.shapes)
    if kind == "attribute":
        dims = [d for d, vals in (("colour", params.colours), ("size", params.sizes)) if len(vals) > 1]
        dim = dims[int(rng.integers(len(dims))) if variant is None else variant % len(dims)]
        a = look(shape)
        if dim == "colour":
            b = (shape, pick(params.colours, (a[1],)), a[2])
        else:
            b = (shape, a[1], pick(params.sizes, (a[2],)))
        looks = [a, b]
    else:  # relation and action: twins
        a = look(shape)
        looks = [a, a]
    motion = pick(params.motions)
    motions = [motion, motion]
    others: list[str] = []
    if kind == "relation":
        landmark = 2
        others.append(pick(params.shapes, (shape,)))
        exclude = (shape, others[0])  # the landmark's shape stays unique, so "the square" names it
    else:
        exclude = (shape,)
    while len(others) < n - 2:
        others.append(pick(params.shapes, exclude))
    looks += [look(s) for s in others]
    motions += [pick(params.motions) for _ in others]
    return looks, motions, landmark


def _sample_layout(extents: list[int], params: SceneParams, rng: np.random.Generator, tries: int = 200):
    """Integer top-left corners with at least ``params.gap`` empty pixels between sprites, or None."""
    corners: list[tuple[int, int]] = []
    for e in extents:
        for _ in range(tries):
            y, x = (int(v) for v in rng.integers(0, params.size - e + 1, size=2))
            if all(_apart((y, x, e), (cy, cx, ce), params.gap) for (cy, cx), ce in zip(corners, extents)):
                corners.append((y, x))
                break
        else:
            return None
    return corners


def _apart(a: tuple[int, int, int], b: tuple[int, int, int], gap: int) -> bool:
    (ay, ax, ae), (by, bx, be) = a, b
    return ay + ae + gap <= by or by + be + gap <= ay or ax + ae + gap <= bx or bx + be + gap <= ax


def _centres(corners, extents) -> np.ndarray:
    return np.asarray([(y + e // 2, x + e // 2) for (y, x), e in zip(corners, extents)])


def _split_relation(corners, extents, landmark: int, params: SceneParams, rng) -> str | None:
    """A relation word that holds for twin 0 and whose opposite holds for twin 1, or None."""
    c = _centres(corners, extents)
    options = []
    for word in params.relations:
        if RELATIONS[word][1] > 0:
            continue  # each pair once, from its negative-direction word
        axis, opposite = RELATIONS[word][0], OPPOSITE[word]
        d0, d1 = c[0, axis] - c[landmark, axis], c[1, axis] - c[landmark, axis]
        if d0 <= -params.relation_margin and d1 >= params.relation_margin:
            options.append(word)
        elif d1 <= -params.relation_margin and d0 >= params.relation_margin:
            options.append(opposite)
    return options[int(rng.integers(len(options)))] if options else None


def _no_usable_relation(corners, extents, params: SceneParams) -> bool:
    """True when every other actor lies strictly on the same side of both twins along both axes."""
    c = _centres(corners, extents)
    for k in range(2, len(c)):
        for axis in (0, 1):
            d0, d1 = c[0, axis] - c[k, axis], c[1, axis] - c[k, axis]
            if d0 * d1 <= 0:
                return False
    return True
