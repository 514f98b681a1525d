"""CPU cost of the CMPC-V model: parameters, latency and peak memory; head cost vs backbone.

Each case runs in a fresh subprocess (so peak RSS belongs to that case). Inside it, the backbone
forward (the baseline) and the CMPC-V + TGFE + head forward on the same backbone levels are
timed alternately, keeping each one's best; the ratio head/backbone is the figure of merit. The
whole forward and forward+backward (frozen backbone, as released) are timed the same way.

    python benchmarks/bench_model.py                      # r2d_101 5x320², i3d 16x320², batch 1
    python benchmarks/bench_model.py --cases r2d_101:5:320:1 i3d:16:320:4 --repeats 2
    python benchmarks/bench_model.py --cases i3d:16:320:1 --dense   # N×N adjacency as released
    python benchmarks/bench_model.py --cases r2d_101:5:320:1 --set cmpc.temporal_graph=false
    python benchmarks/bench_model.py --breakdown 5 40 --repeats 3   # one level's parts
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_case(backbone: str, frames: int, size: int, batch: int, repeats: int, dense: bool, mode: str, overrides: list[str]) -> dict:
    """One measurement in this process; ``mode`` is "time", "fwd_mem" or "fwdbwd_mem"."""
    import torch
    from omegaconf import OmegaConf

    sys.path.insert(0, str(ROOT))
    from cmpcv.models import build_model

    torch.set_num_threads(2)
    torch.manual_seed(0)
    cfg = OmegaConf.load(ROOT / "conf/model/cmpcv.yaml")
    cfg.backbone = OmegaConf.load(ROOT / f"conf/backbone/{backbone}.yaml")
    cfg.language.vocab_size = 1000
    cfg.cmpc.factorized_adjacency = not dense
    for item in overrides:
        key, value = item.split("=", 1)
        OmegaConf.update(cfg, key, OmegaConf.create({"v": value})["v"] if value not in ("true", "false") else value == "true")
    model = build_model(cfg).train()
    clip = torch.rand(batch, frames, 3, size, size)
    tokens = torch.randint(2, 1000, (batch, 12))
    mask = torch.ones(batch, 12, dtype=torch.bool)
    target = torch.zeros(batch, size, size)
    params = {
        "backbone": sum(p.numel() for p in model.backbone.parameters()),
        "language": sum(p.numel() for p in model.language.parameters()),
        "cmpc": sum(p.numel() for p in model.cmpc.parameters()),
        "tgfe": sum(p.numel() for p in model.tgfe.parameters()),
        "head": sum(p.numel() for p in model.head.parameters()),
    }

    def head_only(levels):
        lang = model.language(tokens, mask)
        ys = model.cmpc(levels, lang, model.backbone.gt_index(frames))
        return model.head(model.tgfe(ys, lang.q_all), ys, tuple(levels[0].shape[-2:]), (size, size))

    def fwd_bwd():
        out = model(clip, tokens, mask)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(out["logits"], target)
        loss.backward()
        model.zero_grad(set_to_none=True)

    base = _rss_mb()
    if mode == "fwd_mem":
        with torch.no_grad():
            model(clip, tokens, mask)
        return {"rss_mb": _rss_mb(), "rss_delta_mb": _rss_mb() - base}
    if mode == "fwdbwd_mem":
        fwd_bwd()
        return {"rss_mb": _rss_mb(), "rss_delta_mb": _rss_mb() - base}

    best = {k: float("inf") for k in ("backbone_fwd", "head_fwd", "full_fwd", "full_fwdbwd")}
    for _ in range(repeats):  # alternate, keep each one's best
        with torch.no_grad():
            t = time.perf_counter(); levels = model.backbone(clip); best["backbone_fwd"] = min(best["backbone_fwd"], time.perf_counter() - t)
            t = time.perf_counter(); head_only(levels); best["head_fwd"] = min(best["head_fwd"], time.perf_counter() - t)
            t = time.perf_counter(); model(clip, tokens, mask); best["full_fwd"] = min(best["full_fwd"], time.perf_counter() - t)
        t = time.perf_counter(); fwd_bwd(); best["full_fwdbwd"] = min(best["full_fwdbwd"], time.perf_counter() - t)
    best["head_over_backbone"] = best["head_fwd"] / best["backbone_fwd"]
    return {"params": params, **best}


def breakdown(slices: int, grid: int, repeats: int) -> None:
    """Forward time of one level's CMPC-V parts at paper widths on ``slices`` frames of a
    ``grid``² map, alternated; shows what dominates (entity perception vs the spatial graph)."""
    import torch

    sys.path.insert(0, str(ROOT))
    from cmpcv.models.cmpc_i import RelationReasoning
    from cmpcv.models.cmpc_v import CMPCVLevel
    from cmpcv.models.fusion import spatial_coords
    from cmpcv.models.language import LanguageEncoder

    torch.set_num_threads(2)
    torch.manual_seed(0)
    n = grid * grid
    lang = LanguageEncoder(vocab_size=100, embed_dim=50)(torch.randint(2, 100, (1, 12)), torch.ones(1, 12, dtype=torch.bool))
    level = CMPCVLevel(1000, 1000, 500)
    dense = RelationReasoning(1000, 1000, factorized=False)
    dense.load_state_dict(level.relation.state_dict())
    v = torch.nn.functional.normalize(torch.randn(1, slices, n, 1000), dim=-1)
    s = spatial_coords(grid, grid)
    m = level.entity(v.flatten(0, 1), s, lang.q_ea.expand(slices, -1)).view(1, slices, n, 1000)
    parts = {
        "entity perception (all slices)": lambda: level.entity(v.flatten(0, 1), s, lang.q_ea.expand(slices, -1)),
        "temporal graph + context": lambda: level.temporal(m, lang.q_act, slices // 2),
        "relation graph, factorized": lambda: level.relation(m[:, slices // 2], lang),
        "relation graph, dense N×N": lambda: dense(m[:, slices // 2], lang),
        "whole CMPC-V level": lambda: level(v, s, lang, slices // 2),
    }
    best = {k: float("inf") for k in parts}
    with torch.no_grad():
        for _ in range(repeats):
            for k, fn in parts.items():
                t = time.perf_counter(); fn(); best[k] = min(best[k], time.perf_counter() - t)
    print(f"| part ({slices} slices, {grid}×{grid} grid, paper widths) | fwd s |\n|---|---|")
    for k, t in best.items():
        print(f"| {k} | {t:.3f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", nargs="+", default=["r2d_101:5:320:1", "i3d:16:320:1"],
                    help="backbone:frames:size:batch")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--dense", action="store_true", help="build the N×N relation adjacency (released form)")
    ap.add_argument("--set", nargs="*", default=[], help="model config overrides key=value")
    ap.add_argument("--breakdown", nargs=2, type=int, metavar=("SLICES", "GRID"),
                    help="time one CMPC-V level's parts instead (e.g. 5 40)")
    ap.add_argument("--child", nargs=7, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.breakdown:
        breakdown(*args.breakdown, args.repeats)
        return
    if args.child:
        bb, f, s, b, r, d, mode = args.child
        print(json.dumps(run_case(bb, int(f), int(s), int(b), int(r), d == "1", mode, args.set)))
        return
    print("| backbone | T×size² | batch | adjacency | params backbone / CMPC+TGFE+head | backbone fwd s | head fwd s | head/backbone | full fwd s | fwd+bwd s | peak RSS fwd / fwd+bwd MB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for case in args.cases:
        bb, f, s, b = case.split(":")
        res = {}
        for mode in ("time", "fwd_mem", "fwdbwd_mem"):
            cmd = [sys.executable, __file__, "--child", bb, f, s, b, str(args.repeats), "1" if args.dense else "0", mode]
            cmd += ["--set", *args.set] if args.set else []
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
            res[mode] = json.loads(out)
        t, p = res["time"], res["time"]["params"]
        head_params = p["cmpc"] + p["tgfe"] + p["head"]
        print(
            f"| {bb} {' '.join(args.set)} | {f}×{s}² | {b} | {'dense N×N' if args.dense else 'factorized'} | "
            f"{p['backbone'] / 1e6:.1f} M / {head_params / 1e6:.1f} M (+{p['language'] / 1e6:.1f} M language) | "
            f"{t['backbone_fwd']:.2f} | {t['head_fwd']:.2f} | {t['head_over_backbone']:.2f}× | {t['full_fwd']:.2f} | "
            f"{t['full_fwdbwd']:.2f} | {res['fwd_mem']['rss_mb']:.0f} / {res['fwdbwd_mem']['rss_mb']:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
