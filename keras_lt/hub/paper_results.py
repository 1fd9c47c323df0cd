"""Published numbers the zoo's checkpoints are compared with.

One entry per zoo recipe name whose paper reports a figure for exactly that
setting (same dataset, imbalance factor and backbone). Values are top-1 accuracy
in percent on the balanced test set, as printed in the cited table; the
``setting`` string says what the authors' run had that ours may not (schedule,
pixels). Cards (:func:`keras_lt.hub.card.render_card`) and the README's
ours-vs-paper table (``tools/results_table.py``) read them from here, so a figure
is typed once.

Example:
>>> paper_result("la-resnet32-cifar10lt-if100").top1
84.3
>>> paper_result("bccl-resnet32-cifar100lt-if100") is None     # not quoted here
True
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class PaperResult:
    top1: float          # percent
    source: str          # paper and table
    setting: str         # the authors' training setting behind the number


_BCCL_T1 = "Kim & Ko 2025 (BCCL), Table 1"
_BCCL_SETTING = "ResNet-32, 200 epochs, original CIFAR-10 pixels"
_LDAM_T2 = "Cao et al. 2019 (LDAM-DRW), Table 2 (ERM row, IF100 top-1 error 29.64)"
_LDAM_SETTING = "ResNet-32, 200 epochs, step decay, original CIFAR-10 pixels"

PAPER_RESULTS = {
    # BCCL Table 1, ResNet-32 on CIFAR-10-LT
    "bccl-resnet32-cifar10lt-if100": PaperResult(85.22, _BCCL_T1, _BCCL_SETTING),
    "bccl-resnet32-cifar10lt-if50": PaperResult(88.07, _BCCL_T1, _BCCL_SETTING),
    "bccl-resnet32-cifar10lt-if10": PaperResult(91.92, _BCCL_T1, _BCCL_SETTING),
    "la-resnet32-cifar10lt-if100": PaperResult(84.3, _BCCL_T1 + " (logit adjustment row)",
                                               _BCCL_SETTING),
    "la-resnet32-cifar10lt-if50": PaperResult(87.1, _BCCL_T1 + " (logit adjustment row)",
                                              _BCCL_SETTING),
    "la-resnet32-cifar10lt-if10": PaperResult(90.9, _BCCL_T1 + " (logit adjustment row)",
                                              _BCCL_SETTING),
    # plain cross-entropy: the standard ERM figures of the LDAM paper
    "ce-resnet32-cifar10lt-if100": PaperResult(70.36, _LDAM_T2, _LDAM_SETTING),
}


def paper_result(name):
    """The published figure for zoo recipe ``name``, or ``None`` when no paper
    reports that exact setting (Reb-SupCon reports no CIFAR-10-LT numbers)."""
    return PAPER_RESULTS.get(name)
