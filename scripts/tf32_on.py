"""A pytest plugin for scripts/gpu_check.sh: TF32 matmuls on, which the suite must catch."""

import torch

torch.backends.cuda.matmul.allow_tf32 = True
torch.backends.cudnn.allow_tf32 = True
