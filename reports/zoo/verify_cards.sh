#!/bin/bash
# Every published CIFAR-10-LT checkpoint in model_cards/, loaded by name offline on each
# backend, re-evaluated on its prepared test split and compared with its card's top-1.
# Usage: bash reports/zoo/verify_cards.sh [NAME ...]   (default: all published cifar10lt models)
# Needs each card's prepared dataset (its recipe's data.prepared; tools/prepare_data.py, see the README).
cd "$(dirname "$0")/../.."
models=("$@")
if [ ${#models[@]} -eq 0 ]; then
  for d in model_cards/*-cifar10lt-if*/; do models+=("$(basename "$d")"); done
fi
for b in ${BACKENDS:-torch tensorflow jax}; do
  for m in "${models[@]}"; do
    # the prepared dataset the card's recipe was trained on (data.prepared in its config.json)
    data=$(.venv/bin/python -c "import json, sys; print(json.load(open(sys.argv[1]))['recipe']['data']['prepared'])" "model_cards/$m/config.json")
    echo "== $b $m"
    HF_HUB_OFFLINE=1 .venv/bin/python tools/evaluate.py "$m" --data "$data" \
        --check-card --backend "$b" 2>&1 | grep -E "^card top-1|^error"
  done
done
