"""Training after rendering must not crash: Mesa's LLVM against triton's (`sim/gl.py`).

The order that used to segfault is run in a fresh interpreter: render the wrist camera
through `vitalskills.sim`, and only then let torch import its compiler stack (and with it
triton) on the first optimizer step, with no set-up by the caller.
"""

import ctypes.util
import os
import subprocess
import sys

import pytest

MARKER = "TRAINED AFTER RENDERING"

SCRIPT = f"""
import sys
from vitalskills.sim import make_env

env = make_env("plug_in_socket", seed=0, image_size=32)
obs, _ = env.reset()
assert obs["wrist_rgb"].shape == (32, 32, 3) and obs["wrist_rgb"].any()
assert "triton" not in sys.modules and "torch._dynamo" not in sys.modules

import torch

net = torch.nn.Linear(4, 2)
optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
net(torch.randn(8, 4)).square().mean().backward()
optimizer.step()  # imports torch._dynamo, which imports triton
import torch._dynamo, triton  # in case a later torch stops doing so by itself

env.step(env.action_space.sample())  # and rendering still works
env.close()
print({MARKER!r})
"""


@pytest.mark.parametrize("backend", ["egl", "osmesa"])
def test_optimizer_step_after_rendering(backend: str) -> None:
    if backend == "osmesa" and ctypes.util.find_library("OSMesa") is None:
        pytest.skip("OSMesa is not installed")
    env = {**os.environ, "MUJOCO_GL": backend, "PYOPENGL_PLATFORM": backend}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, (
        f"rc {result.returncode} (-11 is the segfault)\n{result.stdout}\n{result.stderr[-3000:]}"
    )
    assert MARKER in result.stdout
