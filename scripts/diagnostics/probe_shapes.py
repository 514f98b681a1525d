"""Fast recipe probe on the shapes set: the demo's model, loss and optimiser on clips held in memory.

Used to compare training recipes (learning rate, word vectors, head prior, ...) at a fixed number
of steps much faster than ``python -m cmpcv.train``: the clips are decoded once and cached as a
tensor file, the batches come in a fixed shuffled order without flips, and the test split is
scored per subset at the end by cmpcv.metrics (mean IoU / P@0.5 at the network's 64x64
resolution, which is the protocol's here since the shapes frames are not resized). Everything
else (``build_model``, the optimiser and scheduler from ``conf/optim``, ``ReferringLoss``) is what
the trainer instantiates from the same config. What it measured is summarised in docs/shapes.md
("Recipe history"); the trainer remains the reference for reported demo numbers.

    python scripts/diagnostics/probe_shapes.py --steps 1500 --data /tmp/probe_data -- \
        backbone=tiny2d model.cmpc.temporal_graph=false dataset.clip.num_frames=1 text.word_vectors=glove

Overrides after ``--`` go on top of ``experiment=shapes``; one line per run is appended to
``<data>/probe_results.jsonl``.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf, open_dict

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))  # this checkout's cmpcv, as the other scripts/ do

from cmpcv.data import ReferringCollator, Vocabulary, load_word_vectors  # noqa: E402
from cmpcv.engine.checkpoint import atomic_torch_save  # noqa: E402
from cmpcv.engine.precision import autocast, resolve_precision  # noqa: E402
from cmpcv.metrics import breakdown_stats, count_samples  # noqa: E402
from cmpcv.data.shapes import STAMP_FILE, generate, load_samples  # noqa: E402
from cmpcv.data.shapes import SIZE_WORDS  # noqa: E402
from cmpcv.models import build_model  # noqa: E402
from cmpcv.models.language import VIDEO_TYPES  # noqa: E402

CONF = REPO / "conf"
SUBSETS = ("entity", "attribute", "relation", "action")


def load_split(cfg, split: str, cache: Path) -> dict:
    """All clips of a split as one tensor dict, decoded once and cached next to the data."""
    if cache.is_file():
        return torch.load(cache)
    ds = instantiate(cfg.dataset[split])
    items = [ds[i] for i in range(len(ds))]
    data = {"frames": torch.stack([s["frames"] for s in items]),
            "target": torch.stack([s["target"] for s in items]),
            "query": [s["query"] for s in items], "group": [s["group"] for s in items]}
    atomic_torch_save(data, cache)
    return data


def score(
    model, split: dict, collate: ReferringCollator, limit: int | None = None, precision: str = "32"
) -> dict:
    """Per-subset mean IoU / P@0.5 (x100) of ``model`` on the first ``limit`` samples of a split.

    Attribute sentences without a size word are also scored as ``attribute_colour_only``: the pair
    differs in colour there (a size difference always puts a size word in the sentence).
    """
    was_training = model.training
    model.eval()
    n = len(split["query"]) if limit is None else min(limit, len(split["query"]))
    queries, groups = split["query"][:n], split["group"][:n]
    tokens, mask = collate.encode(queries)
    samples = []  # (gt mask, [(predicted mask, score)]) as cmpcv.metrics scores them
    with torch.no_grad():
        for i in range(0, n, 25):
            sl = slice(i, min(i + 25, n))
            width = int(mask[sl].sum(1).max())
            with autocast(precision, torch.device("cpu")):
                logits = model(split["frames"][sl], tokens[sl][:, :width], mask[sl][:, :width])["logits"]
            logits = logits.float()
            for pred, gt in zip((torch.sigmoid(logits) > 0.5).numpy(), split["target"][sl].bool().numpy()):
                samples.append((gt, [(pred, 1.0)]))
    model.train(was_training)
    size_words = {w for words in SIZE_WORDS.values() for w in words}
    colour_only = ["attribute_colour_only" if g == "attribute" and not size_words & set(q.split()) else None
                   for g, q in zip(groups, queries)]
    stats = count_samples(samples)
    scores = {**breakdown_stats(stats, groups), **breakdown_stats(stats, colour_only)}
    return {name: [round(100 * scores[name]["mean_iou"], 1), round(100 * scores[name]["P@0.5"], 1)]
            for name in (*SUBSETS, "attribute_colour_only") if name in scores}


def word_type_targets(cfg, queries: list[str], length: int) -> torch.Tensor:
    """``(N, length)`` index of each training word's type in VIDEO_TYPES (-1 on padding), from the
    set's sample list, whose training queries come in the dataset's order."""
    samples = load_samples(cfg.dataset.root, "train")
    if [s["query"] for s in samples] != list(queries):
        raise SystemExit("probe_shapes: the sample list's training queries do not match the dataset's order")
    out = torch.full((len(samples), length), -1, dtype=torch.long)
    for i, s in enumerate(samples):
        types = [VIDEO_TYPES.index(t) for t in s["word_types"]][:length]
        out[i, :len(types)] = torch.tensor(types)
    return out


def word_type_nll(probs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean ``-log p(gold type)`` over real words; ``probs (B, L, K)``, ``target (B, L)`` (-1: pad)."""
    real = target >= 0
    picked = probs.float().gather(-1, target.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return -(picked.clamp(min=1e-6).log() * real).sum() / real.sum().clamp(min=1)


def curve_line(tag: str, scores: dict) -> str:
    return tag + "  " + "  ".join(f"{k[:4]} {v[0]:5.1f}" for k, v in scores.items())


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--data", type=Path, required=True, help="paths.data_dir (shapes generated there)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--name", default=None, help="label of the run in the results file")
    parser.add_argument("--eval-every", type=int, default=0,
                        help="also print per-subset mean IoU on the test split and on 400 training "
                             "samples every N steps (a learning curve; evaluation time is not in train_s)")
    parser.add_argument("--save", type=Path, default=None, help="write the trained weights here")
    parser.add_argument("--word-type-loss", type=float, default=0.0,
                        help="weight of an auxiliary cross-entropy that supervises the word-type parser "
                             "with the set's own word types (shapes_samples.json); 0: none, as in the paper")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        base = ["experiment=shapes", f"paths.data_dir={args.data}", "dataset.flip_prob=0",
                f"trainer.max_steps={args.steps}"]
        cfg = compose("train", overrides=[*base, *args.overrides])
    torch.backends.mkldnn.enabled = bool(cfg.trainer.cpu_onednn)
    frames = int(cfg.dataset.clip.num_frames)
    generate(cfg.dataset.root, OmegaConf.to_container(cfg.dataset.generator, resolve=True))
    # The cache is keyed by the generated tree's stamp (generator version and config) and the clip length.
    stamp = (Path(cfg.dataset.root) / STAMP_FILE).read_bytes()
    tag = f"{hashlib.sha1(stamp).hexdigest()[:10]}_t{frames}"
    train = load_split(cfg, "train", args.data / f"probe_train_{tag}.pt")
    test = load_split(cfg, "test", args.data / f"probe_test_{tag}.pt")

    vocab = Vocabulary.build(train["query"])
    collate = ReferringCollator(vocab, max_words=int(cfg.trainer.max_words))
    with open_dict(cfg):
        cfg.model.language.vocab_size = len(vocab)
    vectors = None
    if cfg.text.word_vectors not in (None, "none", "random"):
        vectors = load_word_vectors(cfg.text.word_vectors, vocab, seed=int(cfg.seed),
                                    oov_std=float(cfg.text.oov_std))
    torch.manual_seed(int(cfg.seed))
    model = build_model(cfg.model, word_vectors=vectors)
    optimizer = instantiate(cfg.optim.optimizer)(model)
    scheduler = instantiate(cfg.optim.scheduler)(optimizer)
    loss_fn = instantiate(cfg.loss)
    tokens, mask = collate.encode(train["query"])
    gold = word_type_targets(cfg, train["query"], tokens.shape[1]) if args.word_type_loss else None
    order = torch.Generator().manual_seed(int(cfg.seed))
    batch, n = int(cfg.trainer.batch_size), len(train["query"])
    perm, pos, losses, start = torch.randperm(n, generator=order), 0, [], time.time()
    cpu = torch.device("cpu")
    precision = resolve_precision(cfg.trainer.precision, cpu)  # as the trainer: autocast for "bf16"
    model.train()
    for step in range(args.steps):
        if pos + batch > n:
            perm, pos = torch.randperm(n, generator=order), 0
        idx, pos = perm[pos:pos + batch], pos + batch
        width = int(mask[idx].sum(1).max())
        loss_fn.set_step(step)
        with autocast(precision, cpu):
            out = model(train["frames"][idx], tokens[idx][:, :width], mask[idx][:, :width])
        loss = loss_fn(out, train["target"][idx].float())["loss"]
        if gold is not None:
            loss = loss + args.word_type_loss * word_type_nll(out["word_probs"], gold[idx][:, :width])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(float(loss.detach()))
        if (step + 1) % 100 == 0:
            print(f"step {step + 1}  loss {np.mean(losses[-100:]):.4f}  {time.time() - start:.0f} s",
                  flush=True)
        if args.eval_every and (step + 1) % args.eval_every == 0 and step + 1 < args.steps:
            paused = time.time()
            for tag, split, limit in (("test ", test, None), ("train", train, 400)):
                scores = score(model, split, collate, limit=limit, precision=precision)
                print(curve_line(f"  {tag} @{step + 1}", scores), flush=True)
            start += time.time() - paused
    train_s = time.time() - start

    result = {"name": args.name, "overrides": args.overrides, "steps": args.steps, "threads": args.threads,
              **({"word_type_loss": args.word_type_loss} if args.word_type_loss else {}),
              "train_s": round(train_s), **score(model, test, collate, precision=precision)}
    if args.eval_every:
        result["train_fit"] = score(model, train, collate, limit=400, precision=precision)
    print(json.dumps(result), flush=True)
    if args.save is not None:
        atomic_torch_save({"model": model.state_dict(), "overrides": args.overrides}, args.save)
    with open(args.data / "probe_results.jsonl", "a") as f:
        f.write(json.dumps(result) + "\n")
    return result


if __name__ == "__main__":
    main()
