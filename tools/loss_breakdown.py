#!/usr/bin/env python
"""Print each loss term of a BCCL or Reb-SupCon checkpoint on one training batch.

    python tools/loss_breakdown.py runs/bccl-c10lt-if100-e30 --backend torch
    python tools/loss_breakdown.py runs/reb-printed-c10lt-if100-e30 --weights best

For looking into a run that learns worse than expected: which term dominates the
loss, what the rebalancing factor is per class, how accurate the classifier is on
the augmented batch. The batch is the first of the shuffled training loader
(``--seed``); the model runs in inference mode (BatchNorm statistics, no update).
"""

import argparse
import sys
from pathlib import Path

from keras_lt_cli.bootstrap import BACKENDS, select_backend


def breakdown(run_dir, weights="last", seed=1):
    """Dict of loss terms of ``run_dir``'s model on one training batch."""
    import numpy as np
    from keras import ops

    from keras_lt.config import load_config
    from keras_lt.data.pipeline import make_loader
    from keras_lt.losses.classification import cross_entropy, logit_adjusted_cross_entropy
    from keras_lt.losses.prototypes import (
        aggregation_loss, prototype_scores, separation_loss, sinkhorn, swapped_prediction_loss)
    from keras_lt.losses.rebalance import rebalanced_supcon_loss, rebalanced_supcon_terms
    from keras_lt.models import BCCL, RebSupCon
    from keras_lt.models.builder import build_method_model
    from keras_lt.data.dataset import load_data

    run_dir = Path(run_dir)
    cfg = load_config(run_dir / "config.yaml")
    ds, mean, std, shape = load_data(cfg)
    model = build_method_model(cfg, ds.num_classes, [int(c) for c in ds.train_counts], shape, 1)
    model.load_weights(run_dir / f"{weights}.weights.h5")
    loader = make_loader(ds.split("train"), views=cfg["data"]["views"],
                         batch_size=cfg["optim"]["batch_size"], mean=mean, std=std, shuffle=True,
                         seed=seed, drop_last=True, workers=1, image_size=cfg["data"].get("image_size"))
    x, y = loader[0]
    loader.close()
    out = model(x, training=False)
    num = lambda t: float(ops.convert_to_numpy(t))          # noqa: E731
    terms = {}
    if hasattr(model, "steps"):
        terms["step"] = int(ops.convert_to_numpy(model.steps))
    b = len(y)
    if isinstance(model, BCCL):
        z = ops.transpose(ops.reshape(out["z"], (len(x), b, -1)), (1, 0, 2))
        logits = out["logits"][:b]
        cen = ops.convert_to_tensor(model.centroids)
        # the model's own terms (its SCL count, complement, centroid loss and norm), as they
        # are during the warm-up and after it
        for phase, warm in (("warmup", True), ("after_warmup", False)):
            for name, value in model.loss_terms(z, ops.convert_to_tensor(y, "int32"), logits, cen,
                                                ops.convert_to_tensor(warm)).items():
                terms[f"{name}_{phase}"] = num(value)
        terms["centroid_norm_mean"] = float(
            np.linalg.norm(ops.convert_to_numpy(cen), axis=-1).mean())
    elif isinstance(model, RebSupCon):
        zq, zk, logits = out["z_q"], out["z_k"], out["logits"]
        keys = ops.concatenate([zk, ops.convert_to_tensor(model.queue_keys)], 0)
        key_labels = ops.concatenate([ops.convert_to_tensor(y, "int32"),
                                      ops.convert_to_tensor(model.queue_labels)], 0)
        valid = ops.cast(key_labels >= 0, "float32")
        t, _, has = rebalanced_supcon_terms(zq, y, keys, key_labels, model.temperature, valid)
        omega = ops.convert_to_numpy(model.class_weights())
        sq, sk = prototype_scores(zq, model.prototypes), prototype_scores(zk, model.prototypes)
        qq, qk = sinkhorn(sq), sinkhorn(sk)
        terms.update(
            omega=[round(float(w), 4) for w in omega],
            grad_norm=[round(float(g), 3) for g in ops.convert_to_numpy(model.grad_norm)],
            reb_weighted=num(rebalanced_supcon_loss(t, y, omega, has)),
            reb_unweighted=num(rebalanced_supcon_loss(t, y, np.ones_like(omega), has)),
            swap=num(swapped_prediction_loss(sq, sk, qq, qk, model.proto_temperature)),
            aggregation=num(aggregation_loss(zq, model.prototypes, qq)),
            separation=num(separation_loss(model.prototypes, model.delta)))
    else:
        logits = out
    if hasattr(model, "_log_prior"):
        terms["classifier_loss_logit_adjusted"] = num(
            logit_adjusted_cross_entropy(y, logits, model._log_prior, 1.0))
    terms["classifier_loss_plain_ce"] = num(cross_entropy(y, logits))
    terms["l2_penalty"] = 0.5 * model.weight_decay * sum(
        float(np.sum(np.square(ops.convert_to_numpy(v)))) for v in model.trainable_variables)
    terms["batch_accuracy"] = float((np.argmax(ops.convert_to_numpy(logits), 1) == y).mean())
    return terms


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run_dir", help="a run directory written by tools/train.py")
    p.add_argument("--weights", default="last", choices=["last", "best"])
    p.add_argument("--seed", type=int, default=1, help="loader seed of the batch")
    p.add_argument("--backend", choices=BACKENDS)
    args = p.parse_args(argv)
    select_backend(args.backend)
    if not (Path(args.run_dir) / "config.yaml").is_file():
        print(f"error: {args.run_dir} is not a run directory (no config.yaml)", file=sys.stderr)
        return 2
    for key, value in breakdown(args.run_dir, args.weights, args.seed).items():
        print(f"{key:>26}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
