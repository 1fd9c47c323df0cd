"""Long-tailed evaluation: metrics, reports and plots."""

from keras_lt.eval.metrics import (
    FEW_THRESHOLD,
    MANY_THRESHOLD,
    confusion_matrix,
    format_summary,
    lt_metrics,
    per_class_accuracy,
    shot_groups,
)
from keras_lt.eval.report import evaluate_model, plot_per_class, predict_logits, write_report

__all__ = [
    "FEW_THRESHOLD", "MANY_THRESHOLD", "confusion_matrix", "evaluate_model", "format_summary",
    "lt_metrics", "per_class_accuracy", "plot_per_class", "predict_logits", "shot_groups",
    "write_report",
]
