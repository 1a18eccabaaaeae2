"""Time Topaz's 3D U-net forward on one whole cube, for `cryolens bench --what denoise3d`.

Usage: python3 topaz3d_peer.py MODEL IN.f32 SIDE THREADS REPEATS OUT.f32
IN.f32 holds SIDE³ little-endian float32 values, [z][y][x], already normalised (as the
window Topaz's denoiser feeds its model). Runs the model once to warm up, then REPEATS
times, and writes the output of the last run to OUT.f32 (same layout).
Prints one JSON line: {"seconds": best, "peak_rss_mib": ...}.
Needs: pip install topaz-em "setuptools<81" (and torch).
"""
import json
import resource
import sys
import time

model_name, src, side, threads, repeats, dst = sys.argv[1:7]
side, threads, repeats = int(side), int(threads), int(repeats)

import numpy as np
import torch

if threads > 0:
    torch.set_num_threads(threads)
from topaz.denoising.models import load_model

model = load_model(model_name)
x = torch.from_numpy(np.fromfile(src, dtype="<f4").reshape(1, 1, side, side, side))
best = float("inf")
with torch.no_grad():
    y = model(x)
    for _ in range(repeats):
        t0 = time.perf_counter()
        y = model(x)
        best = min(best, time.perf_counter() - t0)
y.numpy().astype("<f4").tofile(dst)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
print(json.dumps({"seconds": best, "peak_rss_mib": peak}))
