"""Time the published Topaz-Denoise on one micrograph, for `cryolens bench`.

Usage: python3 topaz_peer.py MODEL INPUT.mrc [CROP] [THREADS]
Prints one JSON line: {"seconds": ..., "peak_rss_mib": ..., "shape": [rows, cols]}.
Runs exactly what `topaz denoise` does by default: topaz.denoise.denoise_image with
patch_size=1024, padding=500, on the CPU with THREADS torch threads.
Needs: pip install topaz-em "setuptools<81" mrcfile (and torch).
"""
import json
import resource
import sys
import time

model_name, path = sys.argv[1], sys.argv[2]
crop = int(sys.argv[3]) if len(sys.argv) > 3 else 0
threads = int(sys.argv[4]) if len(sys.argv) > 4 else 0

import mrcfile
import numpy as np
import torch

if threads > 0:
    torch.set_num_threads(threads)
from topaz.denoise import Denoise, denoise_image

with mrcfile.open(path, permissive=True) as f:
    x = np.asarray(f.data, dtype=np.float32)
if x.ndim == 3:
    x = x[0]
if crop > 0:
    x = np.ascontiguousarray(x[1024:1024 + crop, 1024:1024 + crop])

denoiser = Denoise(model_name, use_cuda=False)
t0 = time.perf_counter()
with torch.no_grad():
    y = denoise_image(x, [denoiser], patch_size=1024, padding=500, normalize=False)
seconds = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
print(json.dumps({"seconds": seconds, "peak_rss_mib": peak, "shape": list(y.shape)}))
