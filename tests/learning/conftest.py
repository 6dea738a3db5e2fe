"""Learning tests run single-threaded (the machine's cores are shared)."""

import torch

torch.set_num_threads(1)
