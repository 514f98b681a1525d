"""StreamingEvaluator == evaluate_samples: batches, groups, memory, DDP gathering."""
from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

import cmpcv.metrics.streaming as streaming
from cmpcv.metrics import StreamingEvaluator, breakdown, evaluate_samples
from tests.metrics.reference import random_samples, same_metrics

GROUPS = ("entity", "attribute", "relation", "action")


def feed(ev, samples, batch, ids=None, groups=None, offset=0):
    for start in range(0, len(samples), batch):
        chunk = samples[start:start + batch]
        ev.update([g for g, _ in chunk], [p for _, p in chunk],
                  sample_ids=None if ids is None else ids[start:start + batch],
                  groups=None if groups is None else groups[start:start + batch])


@pytest.mark.parametrize("protocol", ["mttr", "cmpc"])
@pytest.mark.parametrize("batch", [1, 4, 64])
def test_streaming_equals_batch(protocol, batch):
    samples = random_samples(11, n=50, tie_scores=True)
    ev = StreamingEvaluator(protocol)
    feed(ev, samples, batch)
    assert len(ev) == 50
    assert same_metrics(ev.compute(), evaluate_samples(samples, protocol=protocol))


def test_breakdown_per_group_equals_subsets():
    samples = random_samples(12, n=48)
    groups = [GROUPS[i % 4] for i in range(48)]
    ev = StreamingEvaluator()
    feed(ev, samples, 5, groups=groups)
    per_group = ev.compute_breakdown()
    assert list(per_group) == sorted(GROUPS)
    assert per_group == breakdown(samples, groups)
    for name in GROUPS:
        subset = [s for s, g in zip(samples, groups) if g == name]
        assert per_group[name] == evaluate_samples(subset)


def test_dense_masks_are_not_kept():
    gt = np.ones((64, 64), bool)
    pred = np.ones((64, 64), bool)
    refs = [weakref.ref(gt), weakref.ref(pred)]
    ev = StreamingEvaluator()
    ev.update([gt], [[(pred, 0.5)]])
    del gt, pred
    gc.collect()
    assert all(r() is None for r in refs)
    stats, _, _ = ev.gathered()
    kept = sum(a.nbytes for a in (stats.gt_area, stats.sample, stats.inter, stats.area, stats.score))
    assert kept <= 64


def test_duplicate_id_on_one_rank_is_an_error():
    ev = StreamingEvaluator()
    gt = np.ones((2, 2), bool)
    ev.update([gt], [[(gt, 1.0)]], sample_ids=["a"])
    with pytest.raises(ValueError, match="'a' was already added"):
        ev.update([gt], [[(gt, 1.0)]], sample_ids=["a"])


class FakeGroup:
    """Stands in for torch.distributed: all_gather_object returns every rank's payload."""

    def __init__(self, evaluators):
        self.evaluators = evaluators

    def get_world_size(self):
        return len(self.evaluators)

    def all_gather_object(self, out, obj):
        for r, ev in enumerate(self.evaluators):
            out[r] = ev._local()


def test_gathering_in_distributed_sampler_order_drops_padding(monkeypatch):
    # 7 samples on 2 ranks, non-shuffled DistributedSampler: rank 0 sees 0, 2, 4, 6 and rank 1
    # sees 1, 3, 5 and a padding copy of 0. Ties across samples make the order matter.
    samples = random_samples(13, n=7, tie_scores=True)
    ids = [f"s{i}" for i in range(7)]
    world = 2
    evaluators = []
    for rank in range(world):
        idx = list(range(rank, 8, world))
        idx = [i % 7 for i in idx]
        ev = StreamingEvaluator()
        feed(ev, [samples[i] for i in idx], 3, ids=[ids[i] for i in idx])
        evaluators.append(ev)
    monkeypatch.setattr(streaming, "_process_group", lambda: FakeGroup(evaluators))
    expected = evaluate_samples(samples)
    assert evaluators[0].compute() == expected
    assert evaluators[1].compute() == expected


def test_explicit_indices_set_the_global_order(monkeypatch):
    samples = random_samples(14, n=6, tie_scores=True)
    order = [4, 0, 5, 2, 1, 3]
    halves = [order[:3], order[3:]]
    evaluators = []
    for idx in halves:
        ev = StreamingEvaluator()
        ev.update([samples[i][0] for i in idx], [samples[i][1] for i in idx], indices=idx)
        evaluators.append(ev)
    monkeypatch.setattr(streaming, "_process_group", lambda: FakeGroup(evaluators))
    assert evaluators[0].compute() == evaluate_samples(samples)


def _ddp_worker(rank, world, port, samples, results):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        ev = StreamingEvaluator()
        idx = [i % len(samples) for i in range(rank, 2 * ((len(samples) + 1) // 2), world)]
        ev.update([samples[i][0] for i in idx], [samples[i][1] for i in idx],
                  sample_ids=[f"s{i}" for i in idx])
        results[rank] = ev.compute()
    finally:
        dist.destroy_process_group()


def test_real_two_process_gloo_group():
    import socket

    import torch.multiprocessing as mp

    samples = random_samples(15, n=9, shape=(10, 12), tie_scores=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    manager = mp.Manager()
    results = manager.dict()
    mp.spawn(_ddp_worker, args=(2, port, samples, results), nprocs=2, join=True)
    expected = evaluate_samples(samples)
    assert results[0] == expected and results[1] == expected


def test_count_rle_rejects_uncovered_counts_instead_of_hanging():
    """pycocotools' merge(intersect=True) never returns on counts that do not cover the mask;
    count_rle must refuse them first. Run in a subprocess so that a hang fails by timeout."""
    import subprocess
    import sys

    code = (
        "from cmpcv.metrics import count_rle\n"
        "from cmpcv.data.rle import RLEError\n"
        "gt = {'size': [48, 64], 'counts': '0PP3'}\n"
        "try:\n"
        "    count_rle(gt, [{'size': [48, 64], 'counts': 'jn02'}], [0.9])\n"
        "except RLEError as err:\n"
        "    print('refused:', err)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "refused: prediction 0: the counts cover" in done.stdout


def test_count_rle_counts_valid_rles_like_pycocotools():
    from pycocotools import mask as mask_utils

    from cmpcv.metrics import count_rle

    rng = np.random.default_rng(3)
    gt, pred = rng.random((2, 40, 30)) < 0.4

    def enc(m):
        rle = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
        return {"size": list(rle["size"]), "counts": rle["counts"].decode("ascii")}

    stats = count_rle(enc(gt), [enc(pred), enc(np.zeros_like(pred))], [0.7, 0.2])
    assert stats.gt_area.tolist() == [int(gt.sum())]
    assert stats.area.tolist() == [int(pred.sum()), 0]
    assert stats.inter.tolist() == [int((gt & pred).sum()), 0]
