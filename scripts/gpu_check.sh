#!/usr/bin/env bash
# The cuda paths for real, on a machine with a GPU, PyTorch and TensorFlow: the suite on
# --device cuda for every torch implementation and the TensorFlow one, TensorFlow's own GPU
# settings (TF32 off, memory growth on), the float32 gradient checks with TF32 matmuls
# switched on, which the tolerances must reject, and a parallel run with one worker per GPU
# plus one more, whose cuda checks must all run on the GPU workers.
# Where TensorFlow is missing or is a CPU-only build, its cuda build is installed first
# (pip install "tensorflow[and-cuda]"); where that fails, the run says so and fails.
# Usage: bash scripts/gpu_check.sh [OUTPUT_DIR]   (no install of the plugin: runs from the checkout)
set -uo pipefail
out=${1:-${OUT:-/tmp}}
export PYTHONPATH="$PWD:$PWD/scripts${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python3 -c "import torch, numpy; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0), 'numpy', numpy.__version__)"
tf_gpus() {
  python3 -c "import tensorflow as tf; gpus = tf.config.list_physical_devices('GPU'); print('tensorflow', tf.__version__, 'GPUs', len(gpus)); raise SystemExit(0 if gpus else 1)" 2>/dev/null
}
if ! tf_gpus; then
  echo "== TensorFlow is missing or sees no GPU: installing its cuda build"
  python3 -m pip install -q "tensorflow[and-cuda]" 2>&1 | tail -n 3
fi
tf_gpus
tf_cuda=$?
if [ "$tf_cuda" -eq 0 ]; then
  echo "== TensorFlow's GPU settings as the suite leaves them: TF32 off, memory growth on"
  python3 - <<'PY'
import tensorflow as tf
import pytest_twolayer.implementations.tf_static_net  # noqa: F401  (configures TF at import)
gpus = tf.config.list_physical_devices("GPU")
growth = [tf.config.experimental.get_memory_growth(gpu) for gpu in gpus]
tf32 = tf.config.experimental.tensor_float_32_execution_enabled()
print("TF32", "on" if tf32 else "off", "; memory growth per GPU", growth)
raise SystemExit(0 if gpus and all(growth) and not tf32 else 1)
PY
  tf_settings=$?
else
  echo "TensorFlow on cuda: NOT proven (no cuda build of TensorFlow could be used or installed)"
  tf_settings=1
fi
impls=""
for spec in tensor:tensor_net:TensorNet autograd:autograd_net:AutogradNet function:function_net:FunctionNet \
            nn:nn_net:NnNet optim:optim_net:OptimNet module:module_net:ModuleNet dynamic:dynamic_net:DynamicNetImpl; do
  IFS=: read -r name module cls <<<"$spec"
  impls+="${impls:+,}$name=pytest_twolayer.implementations.$module:$cls"
done
cuda_impls="tensor autograd function nn optim module dynamic"
if [ "$tf_cuda" -eq 0 ]; then
  impls+=",tf-static=pytest_twolayer.implementations.tf_static_net:TfStaticNet"
  cuda_impls+=" tf-static"
fi
echo "== the suite on cuda"
python3 -m pytest -p pytest_twolayer.plugin -p no:cacheprovider --impl "$impls" --device cuda -q -rs \
  --durations=5 --junitxml="$out/cuda.xml" 2>&1 | tee "$out/cuda.log"
suite=${PIPESTATUS[0]}
echo "== TF32 on: the float32 gradient checks must fail"
python3 -m pytest -p pytest_twolayer.plugin -p tf32_on -p no:cacheprovider --impl "$impls" --device cuda \
  -q -k "test_gradients_match_reference and float32" 2>&1 | tail -n 12 | tee "$out/tf32.log"
tf32=${PIPESTATUS[0]}
gpus=$(nvidia-smi --list-gpus | wc -l)
workers=$((gpus + 1))
echo "== the benchmarks on cuda with $workers workers on $gpus GPU(s): one pinned worker per GPU,"
echo "   the extra worker sees none; cuda implementations run on GPU workers only"
python3 -m pytest -p pytest_twolayer.plugin -p no:cacheprovider --impl "$impls,numpy" -q \
  --tx "$workers*popen" -k "benchmark or implementation_loads or gradients_match" \
  --twolayer-report-json "$out/gpu-workers.json" 2>&1 | tail -n 40 | tee "$out/parallel.log"
# shellcheck disable=SC2086  # the implementations' names, one argument each
python3 scripts/gpu_workers.py "$out/gpu-workers.json" $cuda_impls | tee "$out/gpu-workers.log"
parallel=${PIPESTATUS[0]}
echo "suite exit $suite (want 0); tf32 exit $tf32 (want 1); TensorFlow on cuda $tf_cuda," \
  "its settings $tf_settings; GPU workers $parallel (want 0 each)"
[ "$suite" -eq 0 ] && [ "$tf32" -eq 1 ] && [ "$tf_cuda" -eq 0 ] && [ "$tf_settings" -eq 0 ] \
  && [ "$parallel" -eq 0 ]
