"""Evaluation on A2D-style sets: the sentences of one annotated frame share one pass of its clip.

The loader batches the samples of one ``(video, frame)`` together, and ``evaluate`` runs each
distinct clip through the backbone and the sentence-independent stages once. The figures and the
predictions must be those of the plain path (dataset order, ``model(...)`` on every row).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from cmpcv.data import A2DSentences, ReferringCollator
from cmpcv.data.clips import ClipSampler
from cmpcv.data.text import Vocabulary
from cmpcv.engine.data import GroupedShardSampler, eval_loader, frame_groups
from cmpcv.engine.inference import evaluate, sample_order
from cmpcv.engine.video_inference import clip_logits
from cmpcv.predictions import read_predictions

from .test_video_inference import small_model


def test_grouped_batches_cover_every_sample_once_across_ranks():
    groups = [[0, 3], [1], [2, 4, 5, 6], [7], [8, 9], [10]]
    for world in (1, 2, 3):
        seen = []
        for rank in range(world):
            batches = list(GroupedShardSampler(groups, 3, rank=rank, world_size=world))
            assert all(1 <= len(b) <= 3 for b in batches)
            seen += [i for b in batches for i in b]
            for g in groups[rank::world]:  # a group is never split unless it exceeds a batch
                if len(g) <= 3:
                    assert any(set(g) <= set(b) for b in batches), (g, batches)
        assert sorted(seen) == list(range(11))


@pytest.mark.parametrize("backbone", ["tiny2d", "tiny3d"])
def test_clip_logits_equal_the_forward(backbone):
    model, collator = small_model(backbone)
    g = torch.Generator().manual_seed(3)
    clips = torch.rand(3, 5, 3, 32, 40, generator=g)
    sentences = ["trees", "the man riding a bike on the left", "a red car", "trees on the left", "a man"]
    clip_of = [2, 0, 2, 1, 0]
    tokens, mask = collator.encode(sentences)
    with torch.no_grad():
        want = model(clips[clip_of], tokens, mask)["logits"]
        got = clip_logits(model, clips, model.language(tokens, mask), clip_of)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("backbone", ["tiny2d", "tiny3d"])
def test_evaluate_shares_clips_with_the_same_figures(a2d_fixture_root, backbone, tmp_path):
    ds = A2DSentences(a2d_fixture_root, split="test", size=48, clip=ClipSampler(num_frames=4))
    groups = frame_groups(ds)
    assert len(groups) < len(ds), "the fixture has frames with several sentences"
    vocab = Vocabulary.build([ds.sample_meta(i)["query"] for i in range(len(ds))])
    model, _ = small_model(backbone)
    model.language.embedding = torch.nn.Embedding(len(vocab), model.language.embedding.embedding_dim)
    collator = ReferringCollator(vocab)
    results = {}
    for shared in (False, True):
        loader = eval_loader(ds, collate_fn=collator, batch_size=4, group_frames=shared)
        calls = []
        hook = model.backbone.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
        results[shared] = evaluate(model, loader, device=torch.device("cpu"), order=sample_order(ds),
                                   share_clips=shared, predictions_path=tmp_path / f"{shared}.jsonl.gz")
        hook.remove()
        results[shared].clips = sum(calls)
    plain, shared = results[False], results[True]
    assert plain.clips == len(ds) and shared.clips == len(groups)
    assert shared.num_samples == plain.num_samples == len(ds)
    assert set(shared.metrics) == set(plain.metrics)
    a, b = read_predictions(plain.predictions).records, read_predictions(shared.predictions).records
    assert [r.sample_id for r in a] == [r.sample_id for r in b] == [ds.sample_id(i) for i in range(len(ds))]
    assert [r.masks for r in a] == [r.masks for r in b]
    assert any(r.masks != a[0].masks for r in a)
    for key, value in plain.metrics.items():
        if isinstance(value, float) and np.isnan(value):
            assert np.isnan(shared.metrics[key]), key
        else:
            assert shared.metrics[key] == pytest.approx(value, abs=1e-9), key
