"""Learning tests run single-threaded (the machine's cores are shared), and load torch's
compiler before any test renders with MuJoCo (see `train.load_torch_compiler`)."""

import torch

from vitalskills.learning.train import load_torch_compiler

torch.set_num_threads(1)
load_torch_compiler()
