from __future__ import annotations

import numpy as np
import pytest
import torch

from cmpcv.data import A2DSentences, ReferringCollator, Vocabulary, build_dataloader, restore_mask, set_epoch


def test_collator_pads_words_and_frames(a2d_fixture_root):
    ds = A2DSentences(a2d_fixture_root, "test", resize="short", size=32, cache_dir=False)
    vocab = Vocabulary.build(q for *_, q in ds.samples)
    collate = ReferringCollator(vocab, max_words=20)
    items = [ds[0], ds[len(ds) - 1]]  # 48x64 and 48x80 videos: different input widths
    b = collate(items)
    assert b["frames"].shape == (2, 5, 3, 32, 53) and b["target"].shape == (2, 32, 53)
    assert b["tokens"].dtype == torch.int64 and b["token_mask"].dtype == torch.bool
    assert b["tokens"].shape == (2, 5)  # "baby crawling on the floor", "a white cat eating"
    assert b["token_mask"].tolist() == [[True] * 5, [True] * 4 + [False]]
    assert b["tokens"][1].tolist() == vocab.encode(["a", "white", "cat", "eating"]) + [0]
    assert ReferringCollator(vocab, max_words=3).encode(["baby crawling on the floor"])[0].shape == (1, 3)
    assert b["sample_id"] == [items[0]["sample_id"], items[1]["sample_id"]] and b["skipped"] == []
    # the first sample was padded on the right; its geometry says so and restoring still works
    assert b["geometry"][0]["pad"][3] == 53 - 43
    for k in range(2):
        alone = restore_mask(items[k]["target"], items[k]["geometry"])
        assert np.array_equal(restore_mask(b["target"][k], b["geometry"][k]), alone) and alone.sum() > 0


@pytest.mark.parametrize("dataset, n", [("a2d", 18), ("ytvos", 34)])
def test_loader_is_deterministic_with_workers(dataset, n, request):
    from cmpcv.data.ytvos import RefYouTubeVOS

    reader = {"a2d": A2DSentences, "ytvos": RefYouTubeVOS}[dataset]
    ds = reader(request.getfixturevalue(f"{dataset}_fixture_root"), "train", size=32, flip_prob=0.5, cache_dir=False)
    collate = ReferringCollator(Vocabulary.build(ds.sample_meta(i)["query"] for i in range(len(ds))))

    def ids(workers, epoch):
        loader = build_dataloader(ds, collate, batch_size=4, shuffle=True, num_workers=workers, seed=7)
        set_epoch(loader, epoch)
        return [(sid, q) for b in loader for sid, q in zip(b["sample_id"], b["query"])]

    first = ids(0, 1)
    assert first == ids(2, 1) and sorted(first) != first and len(first) == n
    assert ids(0, 2) != first


def test_distributed_sampler_shards(a2d_fixture_root):
    from torch.utils.data import DistributedSampler

    ds = A2DSentences(a2d_fixture_root, "train", size=32, cache_dir=False)
    shards = [list(DistributedSampler(ds, num_replicas=2, rank=r, shuffle=True, seed=3)) for r in (0, 1)]
    assert sorted(shards[0] + shards[1]) == list(range(18))
