#!/usr/bin/env bash
# The cuda paths for real, on a machine with a GPU and PyTorch (TensorFlow optional): the
# suite on --device cuda for every torch implementation, then the same float32 gradient
# checks with TF32 matmuls switched on, which the tolerances must reject.
# Usage: bash scripts/gpu_check.sh [OUTPUT_DIR]   (no install needed: runs from the checkout)
set -uo pipefail
out=${1:-${OUT:-/tmp}}
export PYTHONPATH="$PWD:$PWD/scripts${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python3 -c "import torch, numpy; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0), 'numpy', numpy.__version__)"
impls=""
for spec in tensor:tensor_net:TensorNet autograd:autograd_net:AutogradNet function:function_net:FunctionNet \
            nn:nn_net:NnNet optim:optim_net:OptimNet module:module_net:ModuleNet dynamic:dynamic_net:DynamicNetImpl; do
  IFS=: read -r name module cls <<<"$spec"
  impls+="${impls:+,}$name=pytest_twolayer.implementations.$module:$cls"
done
if python3 -c "import tensorflow" 2>/dev/null; then
  impls+=",tf-static=pytest_twolayer.implementations.tf_static_net:TfStaticNet"
fi
echo "== the suite on cuda"
python3 -m pytest -p pytest_twolayer.plugin -p no:cacheprovider --impl "$impls" --device cuda -q -rs \
  --durations=5 --junitxml="$out/cuda.xml" 2>&1 | tee "$out/cuda.log"
suite=${PIPESTATUS[0]}
echo "== TF32 on: the float32 gradient checks must fail"
python3 -m pytest -p pytest_twolayer.plugin -p tf32_on -p no:cacheprovider --impl "$impls" --device cuda \
  -q -k "test_gradients_match_reference and float32" 2>&1 | tail -n 12 | tee "$out/tf32.log"
tf32=${PIPESTATUS[0]}
if python3 -c "import xdist, pytest_benchmark" 2>/dev/null; then
  gpus=$(nvidia-smi --list-gpus | wc -l)
  workers=$((gpus + 1))
  echo "== the benchmarks on cuda with $workers workers on $gpus GPU(s): one pinned worker per GPU,"
  echo "   the extra worker sees none; cuda implementations run on GPU workers only"
  python3 -m pytest -p pytest_twolayer.plugin -p no:cacheprovider --impl "$impls,numpy" -q \
    --tx "$workers*popen" -k "benchmark or implementation_loads" \
    --twolayer-report-json "$out/gpu-workers.json" 2>&1 | tail -n 40 | tee "$out/parallel.log"
  python3 - "$out/gpu-workers.json" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
cuda = [c for c in report["checks"] if c["device"] == "cuda" and c["outcome"] != "skipped"]
workers = {c["worker"] for c in cuda}
print("cuda checks", len(cuda), "ran on workers", sorted(workers), "verdict", report["summary"]["verdict"])
for host, facts in report["environment"]["hosts"].items():
    print(host, facts["gpus"], "GPU(s);", {w: p["gpu"] for w, p in facts["workers"].items()})
PY
fi
echo "suite exit $suite (want 0); tf32 exit $tf32 (want 1)"
[ "$suite" -eq 0 ] && [ "$tf32" -eq 1 ]
