"""The synthetic ``shapes`` set's scenes and sentences: each subset is ambiguous by construction,
and each sentence singles out its actor only through the word type it tests.

Scene properties are checked on many scenes sampled in memory (fast, no I/O); sentences are
checked with an independent resolver that reads a query with the word lists only and finds the
actors it fits.
"""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from cmpcv.data.shapes import ShapesConfig, load_samples, split_scenes
from cmpcv.data.shapes.draw import actor_position, footprints, render, sprite
from cmpcv.data.shapes.scene import COLOURS, KINDS, MOTIONS, RELATIONS, SceneParams, sample_scene
from cmpcv.data.shapes.sentences import MOTION_PHRASES, RELATION_PHRASES, SHAPE_WORDS, SIZE_WORDS

N_SCENES = 150  # per kind, for the by-construction checks


@pytest.fixture(scope="module")
def scenes() -> dict[str, list]:
    params = SceneParams()
    rng = np.random.default_rng(2024)
    return {kind: [sample_scene(kind, params, rng) for _ in range(N_SCENES)] for kind in KINDS}


@pytest.fixture
def tree(shapes_tree):
    return shapes_tree


# -- subsets by construction ---------------------------------------------------------------------

def _centre(actor) -> np.ndarray:
    return np.asarray(actor.centre)


def test_entity_referents_have_unique_shapes(scenes):
    for s in scenes["entity"]:
        shapes = Counter(a.shape for a in s.actors)
        assert all(shapes[s.actors[i].shape] == 1 for i in s.referents)


def test_attribute_pairs_share_shape_and_motion_and_differ_in_one_attribute(scenes):
    for s in scenes["attribute"]:
        a, b = (s.actors[i] for i in s.referents)
        assert a.shape == b.shape and a.motion == b.motion
        assert (a.colour != b.colour) + (a.size != b.size) == 1
        assert sum(x.shape == a.shape for x in s.actors) == 2


def test_relation_twins_are_split_by_a_unique_landmark(scenes):
    margin = SceneParams().relation_margin
    for s in scenes["relation"]:
        a, b = (s.actors[i] for i in s.referents)
        lm = s.actors[s.landmark]
        assert a.appearance == b.appearance and a.motion == b.motion
        assert sum(x.appearance == a.appearance for x in s.actors) == 2
        assert sum(x.shape == lm.shape for x in s.actors) == 1
        axis, sign = RELATIONS[s.relation]
        assert sign * (_centre(a) - _centre(lm))[axis] >= margin
        assert -sign * (_centre(b) - _centre(lm))[axis] >= margin


def test_action_twins_differ_only_in_motion_and_no_relation_separates_them(scenes):
    for s in scenes["action"]:
        a, b = (s.actors[i] for i in s.referents)
        assert a.appearance == b.appearance and a.motion != b.motion
        assert sum(x.appearance == a.appearance for x in s.actors) == 2
        for k, other in enumerate(s.actors):
            if k not in s.referents:
                assert np.all(np.sign(_centre(a) - _centre(other)) == np.sign(_centre(b) - _centre(other)))
                assert np.all(_centre(a) != _centre(other))


@pytest.mark.parametrize("kind", ["action", "relation"])
def test_twins_are_pixel_identical_in_every_frame_apart_from_position(scenes, kind):
    # Crops include a one-pixel ring of background (frames padded with it), so a trail or a blur
    # around either twin would show too.
    checked_annotated = 0
    for s in scenes[kind][:60]:
        frames, _ = render(s)
        frames = np.pad(frames, ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=30)
        fp = np.pad(footprints(s), ((0, 0), (0, 0), (1, 1), (1, 1)))
        i, j = s.referents
        e = s.actors[i].extent
        for t in range(s.num_frames):
            crops = []
            for k in (i, j):
                y, x = actor_position(s.actors[k], s, t)
                inside = 0 <= y <= s.height - e and 0 <= x <= s.width - e
                others = np.delete(fp[:, t], k, axis=0).any(0)
                if inside and not others[y:y + e + 2, x:x + e + 2].any():
                    crops.append(frames[t, y:y + e + 2, x:x + e + 2])
            if t == s.anno_index:
                assert len(crops) == 2, "both twins must be whole and unoccluded in the annotated frame"
                checked_annotated += 1
            if len(crops) == 2:
                np.testing.assert_array_equal(crops[0], crops[1])
    assert checked_annotated == 60


def test_annotated_frame_carries_no_motion_information():
    # Twins' positions in the annotated frame must be drawn the same way for every motion. With
    # ~2000 twins per motion the mean centre has a standard error of ~0.3 px, and a two-sample KS
    # test compares whole distributions: moving 20% of one motion's twins by 6 px fails it
    # (p ~ 6e-4), a leak such as "keep movers inside the frame" fails it by far.
    from scipy.stats import ks_2samp

    params, rng = SceneParams(), np.random.default_rng(7)
    by_motion: dict[str, list] = {m: [] for m in params.motions}
    for _ in range(3000):
        s = sample_scene("action", params, rng)
        for i in s.referents:
            by_motion[s.actors[i].motion].append(s.actors[i].centre)
    centres = {m: np.asarray(v) for m, v in by_motion.items()}
    assert min(len(v) for v in centres.values()) > 1500
    for m, c in centres.items():
        assert np.abs(c.mean(0) - centres["still"].mean(0)).max() < 1.5, m
        for axis in (0, 1):
            assert ks_2samp(c[:, axis], centres["still"][:, axis]).pvalue > 1e-3, (m, axis)


def test_actors_never_overlap_in_the_annotated_frame(scenes):
    gap = SceneParams().gap
    for kind in KINDS:
        for s in scenes[kind]:
            fp = footprints(s)[:, s.anno_index]
            assert fp.sum(0).max() == 1
            for k, a in enumerate(s.actors):
                assert fp[k].sum() == sprite(a.shape, a.extent).sum()  # whole, inside the frame
                for b in s.actors[k + 1:]:
                    ax1, ay1, ax2, ay2 = a.box()
                    bx1, by1, bx2, by2 = b.box()
                    assert max(bx1 - ax2, ax1 - bx2, by1 - ay2, ay1 - by2) > gap


@pytest.mark.parametrize("speed", [4, 6])
def test_moving_actors_travel_speed_pixels_per_frame(speed):
    params, rng = SceneParams(speed=speed), np.random.default_rng(speed)
    assert SceneParams().speed >= 4  # visible at a feature stride of 4
    moved = 0
    for _ in range(20):
        s = sample_scene("action", params, rng)
        fp = footprints(s)
        for k, a in enumerate(s.actors):
            area = sprite(a.shape, a.extent).sum()
            boxes = {}
            for t in range(s.num_frames):
                if fp[k, t].sum() == area:  # wholly inside: its box is the sprite's box
                    ys, xs = np.nonzero(fp[k, t])
                    boxes[t] = np.array([ys.min(), xs.min()])
            for t in boxes:
                if t + 1 in boxes:
                    step = boxes[t + 1] - boxes[t]
                    np.testing.assert_array_equal(step, np.asarray(MOTIONS[a.motion]) * speed)
                    moved += a.motion != "still"
    assert moved > 50


# -- balance and sentences -----------------------------------------------------------------------

def test_subsets_are_balanced(tree):
    assert ShapesConfig().videos_per_subset("test") == {k: 50 for k in KINDS}
    assert ShapesConfig().videos_per_subset("train") == {"entity": 200, "attribute": 200, "relation": 200,
                                                          "action": 400}
    counts = Counter((s["split"], s["subset"]) for s in load_samples(tree))
    assert [counts["test", k] for k in KINDS] == [4, 4, 4, 4]
    assert sum(counts["train", k] for k in KINDS) == 24 and counts["train", "action"] == 10


def _parse_np(words: list[str]) -> dict:
    out = {}
    for w in words:
        for shape, names in SHAPE_WORDS.items():
            if w in names:
                out["shape"] = shape
        for size, names in SIZE_WORDS.items():
            if w in names:
                out["size"] = size
        if w in COLOURS:
            out["colour"] = w
    return out


def _find(phrases: dict[str, tuple[str, ...]], text: str) -> tuple[str | None, str | None]:
    hits = [(len(p), key, p) for key, options in phrases.items() for p in options if f" {p} " in f" {text} "]
    return max(hits)[1:] if hits else (None, None)


def _resolve(query: str, actors: list[dict], drop: str | None = None) -> list[int]:
    """Actors a query fits, read with the vocabularies alone; ``drop`` ignores one word type."""
    relation, phrase = _find(RELATION_PHRASES, query)
    head, landmark_words = (query.split(f" {phrase} ", 1) if relation else (query, ""))
    motion, _ = _find(MOTION_PHRASES, head)
    want = _parse_np(head.split())
    if drop == "attribute":
        want.pop("colour", None), want.pop("size", None)
    fits = [i for i, a in enumerate(actors) if all(a[k] == v for k, v in want.items())
            and (motion is None or drop == "action" or a["motion"] == motion)]
    if relation and drop != "relation":
        lm_want = _parse_np(landmark_words.split())
        landmarks = [i for i, a in enumerate(actors) if all(a[k] == v for k, v in lm_want.items())]
        assert len(landmarks) == 1, f"landmark of {query!r} is ambiguous"
        lm = actors[landmarks[0]]
        axis, sign = RELATIONS[relation]

        def centre(a):
            return (a["y"] + a["extent"] // 2, a["x"] + a["extent"] // 2)
        fits = [i for i in fits if sign * (centre(actors[i])[axis] - centre(lm)[axis]) > 0]
    return fits


def test_attribute_pairs_split_evenly_between_colour_and_size():
    for split in ("train", "test"):
        differ = Counter(
            "colour" if scene.actors[0].colour != scene.actors[1].colour else "size"
            for _, scene, _ in split_scenes(ShapesConfig(), split) if scene.kind == "attribute"
        )
        assert differ["colour"] == differ["size"] == ShapesConfig().videos_per_subset(split)["attribute"] // 2


def test_every_sentence_singles_out_its_actor_and_needs_its_word_type(tree):
    samples = load_samples(tree)
    for s in samples:
        tokens = s["query"].split()
        assert s["query"] == " ".join(s["query"].lower().split()) and len(tokens) <= 20
        assert len(s["word_types"]) == len(tokens)
        assert _resolve(s["query"], s["actors"]) == [s["referent"]], s
        if s["subset"] != "entity":
            # Without the words of its type the sentence fits the twin as well.
            assert sorted(_resolve(s["query"], s["actors"], drop=s["subset"])) == sorted([s["referent"], s["twin"]])
        else:
            assert _resolve(s["words"]["entity"][0], s["actors"]) == [s["referent"]]
        assert s["words"][s["subset"]], f"{s['query']!r} lacks {s['subset']} words"
