"""The shapes ablation: train and test each row on the synthetic set, one table (docs/shapes.md).

Rows (all on top of ``experiment=shapes``, so they share its budget: steps, batch, lr, data):

====  ==============================================================================
A     full CMPC-V, tiny 3D backbone (the demo itself)
B     CMPC-V, tiny 2D backbone (frame-wise features: the temporal graph is the only motion source)
C     CMPC-I, tiny 2D backbone, 1-frame clip (no temporal information at all)
D     A without the relation graph
E     A with 0 TGFE rounds
====  ==============================================================================

Usage::

    python scripts/ablate_shapes.py                        # A..E seed 0, then A and C seed 1
    python scripts/ablate_shapes.py --jobs 2 --threads 1   # two runs at a time, one thread each
    python scripts/ablate_shapes.py --runs A:0 C:0 --steps 200 -- dataset.size=96
    python scripts/ablate_shapes.py --render-only          # the table from the finished runs

Each run is ``python -m cmpcv.train experiment=shapes <row> seed=S`` in ``<out>/<row>_s<S>``; its
wall time, steps, command and the load average around it go to ``ablation_run.json`` beside the
engine's ``metrics.json``. A run with a ``metrics.json`` is not repeated. The table (Markdown) is
written atomically to ``<out>/ablation.md`` and printed.
"""
from __future__ import annotations

import argparse  # a script, not a hydra app: it only launches hydra apps
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cmpcv.data.atomic import atomic_write_text  # noqa: E402
from cmpcv.results.tables import Table, render_markdown  # noqa: E402

# Rows B and C load in the main process, as every recorded B/C run did (a Tiny2D run with a
# DataLoader worker died with SIGSEGV inside backward on channels-last frame tensors; the reader's
# are contiguous). It changes the wall time only, not what is trained.
_NO_WORKER = ["trainer.num_workers=0"]
# experiment=shapes sets Tiny3D's temporal_from; a Tiny2D has no time kernel and refuses the key.
_TINY2D = ["backbone=tiny2d", "~model.backbone.temporal_from"]
#: row -> (description, overrides on top of experiment=shapes)
ROWS: dict[str, tuple[str, list[str]]] = {
    "A": ("CMPC-V, 3D backbone", []),
    "B": ("CMPC-V, 2D backbone", [*_TINY2D, *_NO_WORKER]),
    "C": ("CMPC-I, 2D backbone, 1 frame", [*_TINY2D, "model.cmpc.temporal_graph=false",
                                           "dataset.clip.num_frames=1", *_NO_WORKER]),
    "D": ("A w/o relation graph", ["model.cmpc.relation_graph=false"]),
    "E": ("A with TGFE rounds 0", ["model.tgfe.rounds=0"]),
}
#: The default queue: every row with seed 0, then the second seeds of A and C.
DEFAULT_RUNS = ["A:0", "C:0", "B:0", "D:0", "E:0", "A:1", "C:1"]
SUBSETS = ("entity", "attribute", "relation", "action")


def parse_run(text: str) -> tuple[str, int]:
    row, _, seed = text.partition(":")
    if row not in ROWS or not seed.isdigit():
        raise SystemExit(f"ablate_shapes: run {text!r} must be ROW:SEED with ROW in {sorted(ROWS)}, e.g. A:0")
    return row, int(seed)


def run_dir(out: Path, row: str, seed: int) -> Path:
    return out / f"{row}_s{seed}"


def command(row: str, seed: int, out: Path, extra: list[str]) -> list[str]:
    return [sys.executable, "-m", "cmpcv.train", "experiment=shapes", *ROWS[row][1], f"seed={seed}",
            f"run_name={row}-s{seed}", "trainer.progress=false", f"hydra.run.dir={run_dir(out, row, seed)}", *extra]


def launch(row: str, seed: int, out: Path, extra: list[str], threads: int) -> tuple[subprocess.Popen, dict]:
    folder = run_dir(out, row, seed)
    folder.mkdir(parents=True, exist_ok=True)
    cmd = command(row, seed, out, extra)
    # Several runs of one thread per core each oversubscribe the cores and OpenMP barriers spin
    # (measured: a step 5-20x slower with 2 threads than with 1 on the busy 2-core machine), so
    # each run gets `threads` (trainer.num_threads, and the environment for its workers).
    cmd.append(f"trainer.num_threads={threads}")
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    log = open(folder / "ablation_run.log", "w")  # noqa: SIM115 (closed when the run ends)
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    info = {"row": row, "seed": seed, "command": " ".join(cmd[1:]), "threads": threads,
            "start": time.time(), "load_start": os.getloadavg()[0], "_log": log}
    return proc, info


def reap(proc: subprocess.Popen) -> float | None:
    """CPU seconds (user + system, the run and its reaped DataLoader workers) once ``proc`` has
    ended, else None. On a shared machine the CPU time is what the run would take alone on one
    core per process; the wall time depends on the load."""
    pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
    if pid == 0:
        return None
    proc.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_utime + usage.ru_stime


def finish(proc: subprocess.Popen, info: dict, out: Path, cpu_s: float) -> None:
    info.pop("_log").close()
    info.update(returncode=proc.returncode, wall_s=time.time() - info["start"], cpu_s=cpu_s,
                load_end=os.getloadavg()[0])
    folder = run_dir(out, info["row"], info["seed"])
    atomic_write_text(folder / "ablation_run.json", json.dumps(info, indent=2) + "\n")
    # A run stopped by a signal exits 0 with a checkpoint but no metrics (re-running resumes it).
    done = proc.returncode == 0 and (folder / "metrics.json").is_file()
    status = "ok" if done else f"NOT FINISHED (exit {proc.returncode}, see {folder}/ablation_run.log)"
    print(f"[ablate] {info['row']} seed {info['seed']}: {status} in {info['wall_s'] / 60:.1f} min", flush=True)


def _wanted(folder: Path) -> bool:
    """Not finished, and not started by another launcher (a log without a record: running, or
    its launcher was stopped; delete the folder to run it again). Failed runs are retried."""
    if (folder / "metrics.json").is_file():
        return False
    return (folder / "ablation_run.json").is_file() or not (folder / "ablation_run.log").is_file()


def run_all(runs: list[tuple[str, int]], out: Path, extra: list[str], jobs: int, threads: int) -> None:
    queue = [r for r in runs if _wanted(run_dir(out, *r))]
    active: list[tuple[subprocess.Popen, dict]] = []
    while queue or active:
        while queue and len(active) < jobs:
            row, seed = queue.pop(0)
            print(f"[ablate] start {row} seed {seed}", flush=True)
            active.append(launch(row, seed, out, extra, threads))
        time.sleep(2)
        for item in list(active):
            cpu_s = reap(item[0])
            if cpu_s is not None:
                active.remove(item)
                finish(*item, out, cpu_s)


def _pct(m: dict | None, key: str) -> float | None:
    value = (m or {}).get(key)
    return None if value is None else 100.0 * float(value)


def render(runs: list[tuple[str, int]], out: Path) -> str:
    """One Markdown table: per run, mean IoU and P@0.5 per subset, overall mean IoU, steps, wall time."""
    header = ["Row", "Model", "Seed", "Steps"]
    for s in SUBSETS:
        header += [f"{s} mIoU", f"{s} P@0.5"]
    header += ["All mIoU", "Wall (min)", "CPU (min)", "Load"]
    cells = []
    for row, seed in runs:
        folder = run_dir(out, row, seed)
        try:
            metrics = json.loads((folder / "metrics.json").read_text())
        except FileNotFoundError:
            continue  # not run (yet): the table shows what has finished
        try:
            info = json.loads((folder / "ablation_run.json").read_text())
        except FileNotFoundError:
            # A run whose launcher was stopped: from hydra's config (written at the start) to
            # the metrics (written at the end).
            info = {"wall_s": (folder / "metrics.json").stat().st_mtime
                    - (folder / ".hydra" / "config.yaml").stat().st_mtime}
        # cmpcv.engine's metrics.json: subsets under "groups", the step under "meta" (files of
        # older engine versions: "per_group" and "step").
        groups = metrics.get("groups", metrics.get("per_group", {}))
        line = [row, ROWS[row][0], seed, metrics.get("meta", {}).get("step", metrics.get("step"))]
        for s in SUBSETS:
            line += [_pct(groups.get(s), "mean_iou"), _pct(groups.get(s), "P@0.5")]
        wall = info.get("wall_s")
        load = info.get("load_start"), info.get("load_end")
        cpu = info.get("cpu_s")
        line += [_pct(metrics.get("metrics"), "mean_iou"), None if wall is None else wall / 60,
                 None if cpu is None else cpu / 60, "–" if None in load else f"{load[0]:.1f}/{load[1]:.1f}"]
        cells.append(line)
    numeric = [False, False, True, True] + [True] * (2 * len(SUBSETS)) + [True, True, True, False]
    return render_markdown(Table(header=header, cells=cells, numeric=numeric,
                                 title="shapes ablation: test split (400 samples, 100 per subset), x100"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", nargs="+", default=DEFAULT_RUNS, help="ROW:SEED in launch order")
    parser.add_argument("--out", type=Path, default=REPO / "outputs" / "ablate_shapes", help="runs and table")
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run")
    parser.add_argument("--steps", type=int, default=None, help="trainer.max_steps (default: the experiment's)")
    parser.add_argument("--render-only", action="store_true", help="only render the table of finished runs")
    parser.add_argument("overrides", nargs="*", help="extra hydra overrides for every run (after --)")
    args = parser.parse_args(argv)
    runs = [parse_run(r) for r in args.runs]
    extra = list(args.overrides) + ([f"trainer.max_steps={args.steps}"] if args.steps else [])
    out = args.out.resolve()
    if not args.render_only:
        run_all(runs, out, extra, max(1, args.jobs), max(1, args.threads))
    table = render(runs, out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "ablation.md", table)
    print(table)


if __name__ == "__main__":
    main()
