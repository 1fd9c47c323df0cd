cd "$(dirname "$0")/../.."
for b in torch tensorflow jax; do
  for m in ce-resnet32-cifar10lt-if100 la-resnet32-cifar10lt-if100 bccl-resnet32-cifar10lt-if100 rebsupcon-resnet32-cifar10lt-if100; do
    echo "== $b $m"
    HF_HUB_OFFLINE=1 .venv/bin/python tools/evaluate.py $m --data data_cache/cifar10-lt-if100 --check-card --backend $b 2>&1 | grep -E "card top-1|error"
  done
done
