"""Sentences of the ``shapes`` set: a description that singles out one referred actor of a scene.

Sentences (:func:`describe`) name the referred actor's shape always, the word type of the scene's
kind always, and non-telling words (a shared colour, a shared motion) at random, so that no word
type gives the subset away; each token carries its CMPC word type.
"""
from __future__ import annotations

import numpy as np

from cmpcv.data.shapes.scene import OPPOSITE, Scene

SHAPE_WORDS = {
    "circle": ("circle", "disc"),
    "square": ("square", "box"),
    "triangle": ("triangle",),
    "diamond": ("diamond", "rhombus"),
    "cross": ("cross", "plus"),
}
SIZE_WORDS = {"small": ("small", "little", "tiny"), "big": ("big", "large")}
MOTION_PHRASES = {
    "left": ("moving left", "moving to the left", "going left", "sliding left", "heading left"),
    "right": ("moving right", "moving to the right", "going right", "sliding right", "heading right"),
    "up": ("moving up", "going up", "rising", "sliding upwards"),
    "down": ("moving down", "going down", "sinking", "sliding downwards"),
    "still": ("standing still", "staying still", "not moving", "resting in place"),
}
RELATION_PHRASES = {
    "left": ("left of", "to the left of", "on the left of"),
    "right": ("right of", "to the right of", "on the right of"),
    "above": ("above", "over", "higher than"),
    "below": ("below", "under", "beneath", "lower than"),
}
_FUNCTION_WORDS = {"a", "the", "that", "is"}


class _Sentence:
    """Tokens with their word types; function words are ``unnecessary`` whatever the phrase."""

    def __init__(self) -> None:
        self.tokens: list[str] = []
        self.types: list[str] = []

    def add(self, phrase: str, kind: str) -> None:
        for word in phrase.split():
            self.tokens.append(word)
            self.types.append("unnecessary" if word in _FUNCTION_WORDS else kind)


def describe(scene: Scene, which: int, rng: np.random.Generator) -> _Sentence:
    """A sentence that singles out ``scene.actors[which]`` (a referent) using the scene's kind.

    Words of the lower kinds always appear where needed (the shape, always); words that do not
    disambiguate appear at random, so no word type is a give-away of the subset.
    """
    actor = scene.actors[which]
    other = scene.actors[scene.referents[1] if which == scene.referents[0] else scene.referents[0]]

    def choice(options):
        return options[int(rng.integers(len(options)))]

    def noun_phrase(s: _Sentence, a, need_colour=False, need_size=False, p_colour=0.5, p_size=0.3) -> None:
        s.add(choice(("the", "a")), "unnecessary")
        if need_size or rng.random() < p_size:
            s.add(choice(SIZE_WORDS[a.size]), "attribute")
        if need_colour or rng.random() < p_colour:
            s.add(a.colour, "attribute")
        s.add(choice(SHAPE_WORDS[a.shape]), "entity")

    def motion_clause(s: _Sentence, a) -> None:
        if rng.random() < 0.4:
            s.add("that is", "unnecessary")
        s.add(choice(MOTION_PHRASES[a.motion]), "action")

    s = _Sentence()
    if scene.kind == "entity":
        noun_phrase(s, actor)
        if rng.random() < 0.3:
            motion_clause(s, actor)
    elif scene.kind == "attribute":
        colour_differs = actor.colour != other.colour
        noun_phrase(s, actor, need_colour=colour_differs, need_size=not colour_differs,
                    p_colour=0.3, p_size=0.3)
        if rng.random() < 0.3:
            motion_clause(s, actor)  # shared by the pair: true but not telling
    elif scene.kind == "relation":
        noun_phrase(s, actor)
        word = scene.relation if which == scene.referents[0] else OPPOSITE[scene.relation]
        if rng.random() < 0.3:
            s.add("that is", "unnecessary")
        s.add(choice(RELATION_PHRASES[word]), "relation")
        noun_phrase(s, scene.actors[scene.landmark], p_colour=0.4, p_size=0.2)
    elif scene.kind == "action":
        noun_phrase(s, actor)
        motion_clause(s, actor)
    else:
        raise ValueError(f"unknown scene kind {scene.kind!r}")
    return s
