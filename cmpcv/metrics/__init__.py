"""Evaluation metrics for referring video segmentation (no model code, no torch at import).

``evaluate_samples(samples, protocol="mttr")`` scores ``[(gt_mask, [(pred_mask, score), ...]), ...]``;
:class:`StreamingEvaluator` does the same batch by batch (and across DDP ranks);
``breakdown(samples, groups)`` gives the metrics per group. Protocols: ``mttr`` (the MTTR /
ReferFormer code that later papers compare against) and ``cmpc`` (the released CMPC-V rules).
J&F as the DAVIS-2017 toolkit computes it: ``cmpcv.metrics.jf`` (per frame, statistics),
``cmpcv.metrics.davis`` (``evaluate_davis``, ``evaluate_refdavis``) and ``cmpcv.metrics.mevis``
(``evaluate_mevis``), imported on their own so that this package stays light.
See docs/evaluation.md.
"""
from cmpcv.metrics.evaluation import (
    METRIC_KEYS,
    PROTOCOLS,
    breakdown,
    breakdown_stats,
    compute_metrics,
    evaluate_samples,
)
from cmpcv.metrics.stats import MatchStats, count_rle, count_samples
from cmpcv.metrics.streaming import StreamingEvaluator

__all__ = [
    "METRIC_KEYS",
    "PROTOCOLS",
    "MatchStats",
    "StreamingEvaluator",
    "breakdown",
    "breakdown_stats",
    "compute_metrics",
    "count_rle",
    "count_samples",
    "evaluate_samples",
]
