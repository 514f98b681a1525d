import random

import numpy as np
import pytest
import torch

from cmpcv.engine.data import EpochSeeded, ResumableSampler, ShardSampler, spread_indices


def test_resumed_sampler_continues_the_same_order_and_ranks_partition_the_global_batch():
    data = list(range(23))
    full = ResumableSampler(data, seed=3)
    full.set_position(2, 0)
    order = list(full)
    resumed = ResumableSampler(data, seed=3)
    resumed.set_position(2, 8)
    assert list(resumed) == order[8:] and len(resumed) == len(order) - 8
    r0, r1 = ResumableSampler(data, num_replicas=2, rank=0, seed=3), ResumableSampler(
        data, num_replicas=2, rank=1, seed=3
    )
    r0.set_position(2, 0)
    r1.set_position(2, 0)
    a, b = [i for _, i in r0], [i for _, i in r1]
    perm = torch.randperm(23, generator=torch.Generator().manual_seed(3 + 2)).tolist()
    # step s of 2 ranks x batch 2 covers the same samples as step s of 1 rank x batch 4
    for s in range(5):
        assert set(a[2 * s : 2 * s + 2] + b[2 * s : 2 * s + 2]) == set(perm[4 * s : 4 * s + 4])
    assert [i for _, i in order] == perm


class Noisy:
    def __len__(self):
        return 5

    def __getitem__(self, i):
        return (random.random(), float(np.random.rand()), float(torch.rand(1)))


def test_epoch_seeded_items_are_reproducible_and_leave_global_rng_alone():
    ds = EpochSeeded(Noisy(), seed=1)
    torch.manual_seed(0)
    before = torch.get_rng_state()
    first = ds[(0, 3)]
    assert torch.equal(before, torch.get_rng_state())
    assert ds[(0, 3)] == first and ds[(1, 3)] != first and ds[(0, 4)] != first


def test_shards_do_not_repeat_and_spread():
    shards = [list(ShardSampler(7, rank=r, world_size=3)) for r in range(3)]
    assert sorted(sum(shards, [])) == list(range(7))
    assert spread_indices(10, 3) == [0, 4, 9] or spread_indices(10, 3) == [0, 5, 9]
    assert spread_indices(10, None) is None


class EpochAware(Noisy):
    epoch = 0

    def set_epoch(self, epoch):
        self.epoch = epoch

    def __getitem__(self, i):
        return self.epoch


def test_epoch_reaches_datasets_that_track_it():
    ds = EpochSeeded(EpochAware(), seed=0)
    assert ds[(3, 1)] == 3 and ds[(5, 0)] == 5


@pytest.mark.parametrize("dataset", ["a2d", "ytvos"])
def test_persistent_worker_with_kept_clips_gives_the_batches_of_the_main_process(dataset, request):
    """Two epochs and a mid-epoch resume: a worker that outlives the epoch and keeps decoded
    clips must deliver exactly what loading in the main process does (flips included), for the
    mp4 reader (A2D) and the JPEG-folder one (Refer-YouTube-VOS)."""
    from cmpcv.data import A2DSentences, ReferringCollator, Vocabulary
    from cmpcv.data.ytvos import RefYouTubeVOS
    from cmpcv.engine.data import train_loader

    reader = {"a2d": A2DSentences, "ytvos": RefYouTubeVOS}[dataset]
    root = request.getfixturevalue(f"{dataset}_fixture_root")

    def batches(num_workers: int, positions: list[tuple[int, int]]) -> list[dict]:
        ds = reader(root, "train", size=64, flip_prob=0.5, cache_dir=False, keep_decoded=True)
        collate = ReferringCollator(Vocabulary.build([ds.sample_meta(i)["query"] for i in range(len(ds))]))
        loader, sampler = train_loader(ds, collate_fn=collate, batch_size=2, seed=5, num_workers=num_workers)
        out = []
        for epoch, start in positions:
            sampler.set_position(epoch, start)
            out.extend(loader)
        return out

    positions = [(0, 0), (1, 0), (1, 2)]  # the last: epoch 1 resumed after its first batch
    main, worker = batches(0, positions), batches(1, positions)
    assert len(main) == len(worker) > 2
    for a, b in zip(main, worker):
        assert torch.equal(a["frames"], b["frames"]) and torch.equal(a["target"], b["target"])
        assert torch.equal(a["tokens"], b["tokens"]) and a["sample_id"] == b["sample_id"]
