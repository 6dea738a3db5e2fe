"""A client process for the SIGKILL test: keeps an arm moving until it is killed.

Usage: python moving_client.py ADDRESS. Prints `moving` once the arm moves, then sends
an action every 0.35 s (longer than the watchdog: only heartbeats keep it alive).
"""

import sys
import time

import numpy as np

from vitalskills.bridge import connect

client = connect(sys.argv[1], timeout_s=5.0)
client.reset(seed=0)
client.act(np.array([0.001, 0, 0, 0, 0, 0, 0], dtype=np.float32))
print("moving", flush=True)
while True:
    time.sleep(0.35)
    client.act(np.array([0.001, 0, 0, 0, 0, 0, 0], dtype=np.float32))
