"""The training loop: build everything from the run config, train, validate, checkpoint, test.

Flow of :meth:`Trainer.fit`::

    datasets -> vocabulary (training sentences; from the checkpoint on resume) -> word vectors
    -> model (DDP) -> optimiser/scheduler/scaler -> resume -> steps
       every step: stop signal / non-finite loss agreed across ranks
       every checkpoint_every: checkpoints/last.pt     every val_every: validation, best.pt
    -> last.pt -> test split: predictions file + results table (run dir)

One optimiser step = ``accumulate`` micro-batches of ``batch_size`` samples per rank, so the
global batch is ``batch_size * accumulate * world_size``; ``trainer.max_steps`` counts steps.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict
from torch.nn.parallel import DistributedDataParallel

from cmpcv.engine import distributed as D
from cmpcv.engine.checkpoint import (
    BEST,
    LAST,
    atomic_torch_save,
    capture_rng,
    check_resume_data,
    dataset_identity,
    load_checkpoint,
    preserve_rng,
    remap_word_rows,
    resume_mismatch,
    resolve_resume,
    restore_rng,
)
from cmpcv.engine.data import eval_loader, raise_load_failure, spread_indices, train_loader, warn_long_sentences
from cmpcv.engine.inference import EvalResult, evaluate, load_groups, sample_order
from cmpcv.engine.logging import NoneLogger, Progress
from cmpcv.engine.precision import autocast, grad_scaler, resolve_precision
from cmpcv.engine.signals import StopSignals, slurm_requeue
from cmpcv.models.build import check_word_vectors
from cmpcv.models.state import StateDictMismatch, load_strict

log = logging.getLogger(__name__)


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


@dataclass
class TrainResult:
    step: int
    stopped_by_signal: bool
    checkpoint: Path | None
    best: Path | None
    predictions: Path | None
    table: Path | None
    metrics: dict[str, float] | None
    # Training samples the data's error policy skipped (dataset.on_error=skip): id -> times.
    skipped: dict[str, int] = field(default_factory=dict)


def seed_everything(seed: int) -> None:
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return model.module if isinstance(model, DistributedDataParallel) else model


class Trainer:
    """Train the model of ``cfg`` (the composed ``train.yaml``) in ``run_dir``.

    ``on_ready(trainer)`` is called once the data, the model and any checkpoint to continue from
    have been accepted, before anything is written into ``run_dir`` (the app then writes its
    config and starts the log file there); until then an error leaves ``run_dir`` as it was.
    """

    def __init__(self, cfg: DictConfig, run_dir: str | os.PathLike,
                 on_ready: Callable[["Trainer"], None] | None = None) -> None:
        self.cfg = cfg
        self.tcfg = cfg.trainer
        self.run_dir = Path(run_dir)
        self.on_ready = on_ready
        self.training = False  # True once the first step starts (errors before are setup errors)
        self.skipped: Counter = Counter()
        self.ckpt_dir = self.run_dir / "checkpoints"
        self.dist, self.device = D.init_distributed(str(self.tcfg.device))
        if self.tcfg.get("num_threads"):
            torch.set_num_threads(int(self.tcfg.num_threads))
        if self.device.type == "cpu" and not self.tcfg.get("cpu_onednn", True):
            # Off by default: with oneDNN on, torch 2.14.1 corrupted the heap in the CPU backward
            # of the small CMPC-V on channels-last frame tensors. The reader's frames are
            # contiguous, and the shapes demo runs with oneDNN on (docs/training.md, "CPU notes").
            torch.backends.mkldnn.enabled = False
        # After the oneDNN switch: on a CPU, "auto" picks bf16 only where oneDNN runs it natively.
        self.precision = resolve_precision(self.tcfg.precision, self.device)
        self.logger = NoneLogger()
        check_word_vectors(cfg)

    # ---- setup -------------------------------------------------------------------------------
    def _build_data(self, vocab_dict: dict | None) -> None:
        from cmpcv.data import ReferringCollator, Vocabulary

        ds = self.cfg.dataset
        if ds.get("train") is None:
            raise ValueError(
                f"dataset {ds.get('name')!r} has no training split (dataset.train is null); "
                "it is evaluation-only (J-HMDB uses an A2D-trained checkpoint)"
            )
        self.train_set = instantiate(ds.train)
        self.val_set = instantiate(ds.val) if ds.get("val") is not None and self.tcfg.val_every else None
        if self.val_set is not None and not getattr(self.val_set, "has_ground_truth", True):
            # A server-scored split (e.g. Refer-YouTube-VOS valid): nothing to validate against.
            log.warning("validation split %r has no public ground truth: validation is off", self.val_set)
            self.val_set = None
        if vocab_dict is not None:
            self.vocab = Vocabulary.from_dict(vocab_dict)
        else:
            # The vocabulary comes from the training sentences only (as released); the index
            # already holds them, so no clip is decoded here.
            self.vocab = Vocabulary.build(
                self.train_set.sample_meta(i)["query"] for i in range(len(self.train_set))
            )
        self.collate = ReferringCollator(self.vocab, max_words=int(self.tcfg.max_words))
        warn_long_sentences(self.train_set, int(self.tcfg.max_words), f"{ds.get('name')} training split")
        self.loader, self.sampler = train_loader(
            self.train_set,
            collate_fn=self.collate,
            batch_size=int(self.tcfg.batch_size),
            seed=int(self.cfg.seed),
            rank=self.dist.rank,
            world_size=self.dist.world_size,
            num_workers=int(self.tcfg.num_workers),
            pin_memory=self.device.type == "cuda",
        )
        if self.val_set is not None:
            self.val_indices = spread_indices(len(self.val_set), self.tcfg.val_max_samples)
            self.val_loader = eval_loader(
                self.val_set,
                collate_fn=self.collate,
                batch_size=int(self.tcfg.eval_batch_size),
                rank=self.dist.rank,
                world_size=self.dist.world_size,
                num_workers=int(self.tcfg.num_workers),
                indices=self.val_indices,
            )
            ids = list(sample_order(self.val_set, self.val_indices) or {})
            k = int(self.tcfg.num_overlays)
            self.overlay_ids = (
                [ids[i] for i in spread_indices(len(ids), k) or range(len(ids))][:k] if k > 0 else []
            )

    def _build_model(self, fresh: bool, saved_config: dict[str, Any] | None = None) -> None:
        from cmpcv.data import load_word_vectors
        from cmpcv.models import build_model

        with open_dict(self.cfg):
            self.cfg.model.language.vocab_size = len(self.vocab)
        vectors = None
        if fresh and self.cfg.text.word_vectors not in (None, "none", "random"):
            vectors = load_word_vectors(
                self.cfg.text.word_vectors,
                self.vocab,
                seed=int(self.cfg.seed),
                oov_std=float(self.cfg.text.oov_std),
            )
        if self.cfg.model.language.get("embed_dim") is None:
            # null follows the word vectors: their width, or on a resume the width saved with the run.
            saved = OmegaConf.select(OmegaConf.create(saved_config or {}), "model.language.embed_dim")
            with open_dict(self.cfg):
                self.cfg.model.language.embed_dim = int(vectors.shape[1]) if vectors is not None else saved
        seed_everything(int(self.cfg.seed))  # same initial weights on every rank and every run
        model = build_model(self.cfg.model, word_vectors=vectors).to(self.device)
        self.model = model
        if self.dist.enabled and self.tcfg.get("sync_batchnorm", False):
            # Batch statistics over the global batch, as one process would compute them.
            self.model = model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        if self.dist.enabled:
            self.model = DistributedDataParallel(
                model,
                device_ids=[self.device.index] if self.device.type == "cuda" else None,
                find_unused_parameters=bool(self.tcfg.find_unused_parameters),
            )
        self.optimizer = instantiate(self.cfg.optim.optimizer)(model)
        self.scheduler = instantiate(self.cfg.optim.scheduler)(self.optimizer)
        self.scaler = grad_scaler(self.precision, self.device)
        self.loss_fn = instantiate(self.cfg.loss)

    def _state(self) -> dict[str, Any]:
        return {
            "model": _unwrap(self.model).state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else None,
            "step": self.step,
            "data": {"epoch": self.epoch, "index": self.index},
            "rng": capture_rng(),
            "config": OmegaConf.to_container(self.cfg, resolve=True),
            "vocab": self.vocab.to_dict(),
            "best": self.best,
            "wandb_id": self.wandb_id,
            "world_size": self.dist.world_size,
            # What the run was trained on: a resume on another tree is refused (check_resume_data).
            "dataset": dataset_identity(self.cfg.dataset),
            "skipped": dict(self.skipped),
        }

    def save(self, name: str = LAST, state: dict[str, Any] | None = None) -> Path | None:
        """Write ``checkpoints/<name>`` on rank 0 (atomically)."""
        path = None
        if self.dist.is_main:
            path = atomic_torch_save(state or self._state(), self.ckpt_dir / name)
        D.barrier()
        return path

    # ---- the loop ----------------------------------------------------------------------------
    def _batches(self) -> Iterator[dict[str, Any]]:
        """Micro-batches forever, from the saved position; keeps ``epoch``/``index`` current."""
        B = int(self.tcfg.batch_size)
        while True:
            self.sampler.set_position(self.epoch, self.index * B)
            # Worker base seeds from the seed and epoch. With persistent workers this only takes
            # effect when the workers start (the first epoch of a run or of a resume); nothing
            # depends on it, since EpochSeeded seeds every item from (seed, epoch, index).
            self.loader.generator.manual_seed(int(self.cfg.seed) * 1_000_003 + self.epoch)
            for batch in self.loader:
                raise_load_failure(batch)  # a sample that could not be read (dataset.on_error=raise)
                self.index += 1
                yield batch
            self.epoch += 1
            self.index = 0

    def _train_step(self, batches: Iterator[dict[str, Any]]) -> tuple[float, int]:
        """One optimiser step; returns (loss, samples seen on this rank)."""
        accumulate = int(self.tcfg.accumulate)
        self.optimizer.zero_grad(set_to_none=True)
        total, samples, nonfinite = 0.0, 0, False
        if hasattr(self.loss_fn, "set_step"):  # a loss with a schedule (loss.dice_decay_steps)
            self.loss_fn.set_step(self.step)
        for micro in range(accumulate):
            batch = next(batches)
            for sid in batch.get("skipped") or ():
                self.skipped[sid] += 1
            if not batch.get("batch_size", 1):
                continue  # every sample of the batch was dropped by the data's error policy
            frames = batch["frames"].to(self.device, non_blocking=True)
            target = batch["target"].to(self.device, non_blocking=True)
            sync = micro == accumulate - 1 or not self.dist.enabled
            ctx = self.model.no_sync() if not sync else contextlib.nullcontext()
            with ctx:
                with autocast(self.precision, self.device):
                    out = self.model(
                        frames, batch["tokens"].to(self.device), batch["token_mask"].to(self.device)
                    )
                losses = self.loss_fn(out, target)
                loss = losses["loss"] / accumulate
                value = float(loss.detach())
                nonfinite |= not math.isfinite(value)
                # Backward even when non-finite: skipping it on one rank would hang the others'
                # gradient all-reduce; the step is refused below on every rank alike.
                self.scaler.scale(loss).backward()
            total += value
            samples += int(frames.shape[0])
        if D.any_true(nonfinite, self.device):
            raise NonFiniteLossError(
                f"non-finite loss at step {self.step + 1} (epoch {self.epoch}); stopping. The last good "
                f"checkpoint is kept in {self.ckpt_dir / LAST} (lower optim.lr, enable trainer.grad_clip or "
                "check the data)"
            )
        if self.tcfg.grad_clip:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(_unwrap(self.model).parameters(), float(self.tcfg.grad_clip))
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self.step += 1
        return total, samples

    def validate(self) -> EvalResult:
        with preserve_rng():
            result = evaluate(
                _unwrap(self.model),
                self.val_loader,
                device=self.device,
                precision=self.precision,
                protocol=str(self.tcfg.protocol),
                groups=load_groups(getattr(self.val_set, "root", None)),
                overlay_ids=self.overlay_ids,
                order=sample_order(self.val_set, self.val_indices),
            )
        metrics = {f"val/{k}": v for k, v in result.metrics.items() if isinstance(v, (int, float))}
        for group, m in result.per_group.items():
            metrics.update({f"val/{group}/{k}": m[k] for k in ("mean_iou", "P@0.5") if k in m})
        self.logger.log_metrics(metrics, step=self.step)
        self.logger.log_images("val/overlays", result.overlays, step=self.step)
        miou = float(result.metrics.get("mean_iou", float("nan")))
        if self.best is None or miou > self.best:
            self.best = miou
            self.save(BEST)
        return result

    def fit(self) -> TrainResult:
        t = self.tcfg
        resume_from = resolve_resume(t.resume, self.ckpt_dir)
        ckpt = load_checkpoint(resume_from) if resume_from is not None else None
        if ckpt is not None:
            check_resume_data(ckpt, self.cfg.dataset, resume_from, t.resume, self.run_dir)
        self._build_data(ckpt["vocab"] if ckpt else None)
        self._build_model(fresh=ckpt is None, saved_config=ckpt.get("config") if ckpt else None)
        self.step, self.epoch, self.index, self.best, self.wandb_id = 0, 0, 0, None, None
        if ckpt is not None:
            self._load(ckpt, resume_from)
        elif t.get("init_from"):
            self._init_from(Path(t.init_from))
        if self.on_ready is not None:
            self.on_ready(self)
        if ckpt is not None:
            log.info("resumed from %s at step %d (epoch %d, batch %d)", resume_from, self.step, self.epoch, self.index)
        # The logger starts before the RNG states are restored: wandb may draw from `random`.
        if self.dist.is_main:
            self.logger = instantiate(self.cfg.logger) if self.cfg.logger is not None else NoneLogger()
            self.wandb_id = (
                self.logger.start(
                    self.run_dir, OmegaConf.to_container(self.cfg, resolve=True), run_id=self.wandb_id
                )
                or self.wandb_id
            )
        self.wandb_id = D.broadcast_object(self.wandb_id)
        if ckpt is not None:
            restore_rng(ckpt["rng"])  # last, so nothing above shifts the random streams
        signals = StopSignals(t.stop_signals).__enter__()
        max_steps = int(t.max_steps)
        global_batch = int(t.batch_size) * int(t.accumulate) * self.dist.world_size
        progress = Progress(
            max_steps,
            initial=self.step,
            enabled=self.dist.is_main,
            bar=bool(t.progress),
            log_every=int(t.log_every),
        )
        stopped = False
        batches = self._batches()
        self.model.train()
        self.training = True
        try:
            while self.step < max_steps:
                loss, _ = self._train_step(batches)
                rate = progress.update(global_batch, loss, self.scheduler.get_last_lr()[0])
                if self.step % int(t.log_every) == 0 or self.step == max_steps:
                    self.logger.log_metrics(
                        {
                            "train/loss": float(D.mean_across_ranks(torch.tensor(loss))),
                            "train/lr": self.scheduler.get_last_lr()[0],
                            "train/samples_per_s": rate,
                            "train/epoch": self.epoch,
                        },
                        step=self.step,
                    )
                if D.any_true(signals.received is not None, self.device):
                    stopped = True
                    break
                if t.val_every and self.val_set is not None and self.step % int(t.val_every) == 0:
                    self.validate()
                    self.model.train()
                if t.checkpoint_every and self.step % int(t.checkpoint_every) == 0:
                    self.save(LAST)
        finally:
            progress.close()
            signals.__exit__()
            batches.close()
            # The training workers persist across epochs (engine/data.py); the loader holds their
            # iterator, so drop it here and they exit before test-at-end starts its own workers.
            self.loader._iterator = None
        last = self.save(LAST)
        if stopped:
            log.warning(
                "stopped by signal %s at step %d; checkpoint %s",
                signals.received,
                self.step,
                self.ckpt_dir / LAST,
            )
            if t.slurm_requeue and self.dist.is_main:
                slurm_requeue()
            self.logger.finish()
            return TrainResult(self.step, True, last, None, None, None, None, dict(self.skipped))
        if self.val_set is not None and t.val_every and self.step % int(t.val_every) != 0:
            self.validate()
        best = self.ckpt_dir / BEST if (self.ckpt_dir / BEST).is_file() else None
        preds = table = metrics = None
        if t.test_at_end and self.cfg.dataset.get("test") is not None:
            preds, table, metrics = self.test()
        self.logger.finish()
        return TrainResult(self.step, False, last, best, preds, table, metrics, dict(self.skipped))

    def _load(self, ckpt: dict[str, Any], path: Path) -> None:
        try:
            load_strict(_unwrap(self.model), ckpt["model"], f"checkpoint {path}")
        except StateDictMismatch as exc:
            # Typically a run directory reused after the model's config changed (trainer.resume=auto),
            # or a checkpoint of another width given as trainer.resume=PATH.
            raise resume_mismatch(exc, ckpt, OmegaConf.to_container(self.cfg.model, resolve=True), path,
                                  self.tcfg.resume, self.run_dir) from None
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        if ckpt.get("scaler") and self.scaler.is_enabled():
            self.scaler.load_state_dict(ckpt["scaler"])
        self.step = int(ckpt["step"])
        self.epoch, self.index = int(ckpt["data"]["epoch"]), int(ckpt["data"]["index"])
        self.best, self.wandb_id = ckpt.get("best"), ckpt.get("wandb_id")
        self.skipped.update(ckpt.get("skipped") or {})
        if int(ckpt.get("world_size", 1)) != self.dist.world_size:
            # Same global batch and order only if batch_size * world is unchanged; positions count
            # this rank's batches, so warn rather than silently change the data order.
            log.warning(
                "resuming a run saved with %s processes on %d: the data order after the resume differs",
                ckpt.get("world_size"),
                self.dist.world_size,
            )

    def _init_from(self, path: Path) -> None:
        """Start a fresh run (step 0, new optimiser) from another run's weights, e.g. an A2D model
        fine-tuned on another dataset. The word embedding follows this run's vocabulary: the rows
        of words the old vocabulary holds are carried over, the others keep their fresh init."""
        src = load_checkpoint(path)
        state = dict(src["model"])
        model = _unwrap(self.model)
        key = "language.embedding.weight"
        if key in state and "vocab" in src:
            old_words = list(src["vocab"]["itos"])
            state[key], shared = remap_word_rows(state[key], old_words, model.state_dict()[key], self.vocab.itos)
            log.info("init_from %s: %d of %d words keep their trained embedding", path, shared, len(self.vocab))
        load_strict(model, state, f"trainer.init_from={path}")

    def test(self) -> tuple[Path | None, Path | None, dict[str, float]]:
        """Predict the test split, write the predictions file and the results table (rank 0)."""
        from cmpcv.engine.report import write_results

        test_set = instantiate(self.cfg.dataset.test)
        if not getattr(test_set, "has_ground_truth", True):
            log.warning("test split %r has no public ground truth (server-scored): nothing scored at the end", test_set)
            return None, None, {}
        warn_long_sentences(test_set, int(self.tcfg.max_words), f"{self.cfg.dataset.get('name')} test split")
        loader = eval_loader(
            test_set,
            collate_fn=self.collate,
            batch_size=int(self.tcfg.eval_batch_size),
            rank=self.dist.rank,
            world_size=self.dist.world_size,
            num_workers=int(self.tcfg.num_workers),
        )
        name = str(self.cfg.dataset.get("name", "dataset"))
        preds_path = self.run_dir / f"predictions_{name}_test.jsonl.gz"
        with preserve_rng():
            result = evaluate(
                _unwrap(self.model),
                loader,
                device=self.device,
                precision=self.precision,
                protocol=str(self.tcfg.protocol),
                groups=load_groups(getattr(test_set, "root", None)),
                predictions_path=preds_path,
                order=sample_order(test_set),
                progress=bool(self.tcfg.progress),
                predictions_meta={
                    "dataset": name,
                    "split": "test",
                    "checkpoint": str(self.ckpt_dir / LAST),
                    "step": self.step,
                },
            )
        table = None
        if self.dist.is_main:
            table = write_results(
                self.run_dir,
                preds_path,
                protocol=str(self.tcfg.protocol),
                name=str(self.cfg.get("run_name") or "cmpcv (this run)"),
                logger=self.logger,
                step=self.step,
            )
        D.barrier()
        return result.predictions, table, result.metrics
