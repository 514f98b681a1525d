"""Validate a dataset tree: ``python -m cmpcv.data.check dataset=a2d dataset.root=PATH``, or a
submission zip: ``python -m cmpcv.data.check dataset=ytvos dataset.root=PATH submission=ZIP``.

Prints the sample count of each split next to the published one, then every problem found:
missing or unreadable videos, mask files; instance ids not found; masks whose size differs from
the video's; annotated frames past a video's end; sentences of unknown videos. Exits 2 when there
are errors (bad input, as every cmpcv command; warnings alone exit 0). By default nothing is
decoded: videos are checked from their headers, masks are read (they are small); ``deep=true``
also decodes every frame of every video and names the first one that fails.

The checks themselves belong to each dataset: ``check(cfg, report)`` in
``cmpcv/data/<name>/check.py``. The one that runs is found from the class that the config's
``val`` (or ``test``) node instantiates: the package that defines the class, else that of the
nearest base class that has one (a set written in the A2D format is checked as A2D).
"""
from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import hydra
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from cmpcv.data.errors import DataError


@dataclass
class Report:
    """Counts, errors and warnings of one check."""

    counts: dict[str, int] = field(default_factory=dict)
    published: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def error(self, msg: str | Exception) -> None:
        self.errors.append(str(msg))

    def dataset(self, node: DictConfig) -> Any:
        """Instantiate a split's dataset in skip mode, without cache, collecting indexing problems.
        A dataset that cannot be read at all raises its :class:`DataError` (not hydra's wrapper)."""
        try:
            ds = instantiate(node, on_error="skip", cache_dir=False)
        except InstantiationException as exc:
            if isinstance(exc.__cause__, DataError):
                raise exc.__cause__ from None
            raise
        self.errors.extend(ds.problems)
        return ds

    def format(self, max_listed: int = 200) -> str:
        lines = ["samples per split:"]
        for split, n in self.counts.items():
            pub = self.published.get(split)
            flag = "" if pub is None else (" (matches the published count)" if n == pub else f" (published: {pub:,})")
            lines.append(f"  {split:5s} {n:7,d}{flag}")
        lines += [f"note: {n}" for n in self.notes]
        for title, items in (("warnings", self.warnings), ("errors", self.errors)):
            if items:
                lines.append(f"{len(items)} {title}:")
                lines += [f"  {m}" for m in items[:max_listed]]
                if len(items) > max_listed:
                    lines.append(f"  ... and {len(items) - max_listed} more")
        lines.append("OK" if not self.errors else f"FAILED: {len(self.errors)} error(s)")
        return "\n".join(lines)


def find_check(cls: type) -> Callable[[DictConfig, Report], None] | None:
    """``cmpcv.data.<name>.check.check`` of the dataset package defining ``cls`` or its nearest base."""
    for klass in cls.__mro__:
        parts = klass.__module__.split(".")
        if len(parts) < 3 or parts[:2] != ["cmpcv", "data"]:
            continue
        name = f"cmpcv.data.{parts[2]}.check"
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # the check module exists but fails to import: not ours to hide
                raise
            continue
        check = getattr(module, "check", None)
        if callable(check):
            return check
    return None


def check_submission(cfg: DictConfig, report: Report) -> None:
    """``submission=ZIP``: a submission zip against the listing of the dataset's ``val`` split
    (``split=`` another node): one binary 0/255 PNG per (video, expression, listed frame) under the
    reader's ``submission_prefix``, nothing else (:func:`cmpcv.data.submission.check_zip`)."""
    from cmpcv.data.submission import check_zip, expected_entries

    split = str(cfg.get("split") or "val")
    node = cfg.dataset.get(split)
    if node is None:
        report.error(f"dataset {cfg.dataset.get('name')!r} has no {split!r} split")
        return
    ds = report.dataset(node)
    if not hasattr(ds, "videos") or not hasattr(ds, "submission_prefix"):
        report.error(f"{type(ds).__name__} is not a video benchmark with a submission format "
                     "(Refer-YouTube-VOS, MeViS)")
        return
    listing = {vid: (v.frames, v.expression_ids()) for vid, v in ds.videos.items()}
    expected = expected_entries(listing, ds.submission_prefix)
    report.counts["submission masks"] = len(expected)
    report.errors.extend(check_zip(cfg.submission, expected))
    if not report.errors:
        report.notes.append(f"{cfg.submission}: {len(expected)} masks of {len(listing)} videos, complete")


def run_check(cfg: DictConfig) -> Report:
    """Check the tree that ``cfg.dataset`` describes (or, with ``submission=ZIP``, a submission
    zip against it); the report holds counts and problems."""
    report = Report()
    if cfg.get("submission"):
        check_submission(cfg, report)
        return report
    kind = cfg.dataset.get("val") or cfg.dataset.get("test")
    target = str(kind.get("_target_", "")) if kind is not None else ""
    try:
        cls = hydra.utils.get_class(target) if target else None
    except Exception:  # an unknown class is reported below like any other unsupported dataset
        cls = None
    check = find_check(cls) if isinstance(cls, type) else None
    if check is None:
        report.error(f"dataset {cfg.dataset.get('name')!r}: no check for {target!r} (a dataset package "
                     f"cmpcv.data.<name> provides one as check.check(cfg, report))")
    else:
        check(cfg, report)
    if cfg.get("strict_counts", False):
        for split, n in report.counts.items():
            if split in report.published and n != report.published[split]:
                report.error(f"{split}: {n} samples, the published protocol has {report.published[split]}")
    return report


@hydra.main(config_path="../../conf", config_name="check", version_base=None)
def main(cfg: DictConfig) -> None:
    from cmpcv import cli

    if OmegaConf.is_missing(cfg.dataset, "root"):
        cli.fail("give the dataset tree, e.g. python -m cmpcv.data.check dataset=a2d dataset.root=PATH")
    with cli.user_errors():
        report = run_check(cfg)
    print(report.format(int(cfg.get("max_listed", 200))))
    sys.exit(cli.EXIT_BAD_INPUT if report.errors else 0)


if __name__ == "__main__":
    from cmpcv import cli

    cli.run(main)
