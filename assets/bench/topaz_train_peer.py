"""Time Topaz's noise2noise training step on the CPU, for `cryolens bench --what train`.

Usage: python topaz_train_peer.py ARCH A.f32 B.f32 N CROP STEPS THREADS
A.f32 and B.f32 hold N crops of CROP x CROP float32 values (little-endian, row-major), the
two halves of each crop pair. Builds Topaz's own model class for ARCH (unet, unet-small,
fcnn, affine, unet-v0.2.1; randomly initialised, as `topaz denoise --train` starts), then
runs plain PyTorch training steps as Topaz's trainer does: both directions ([A; B] -> [B; A]),
MSE (L2) loss, Adagrad with lr 1e-3, THREADS torch threads. One warm-up step, then STEPS
timed steps.
Prints one JSON line: {"seconds_per_step": mean, "best_seconds": min, "loss": last loss}.
Needs: pip install topaz-em (and torch).
"""
import json
import sys
import time

arch, path_a, path_b = sys.argv[1], sys.argv[2], sys.argv[3]
n, crop, steps, threads = (int(v) for v in sys.argv[4:8])

import numpy as np
import torch
from torch import nn

if threads > 0:
    torch.set_num_threads(threads)
from topaz.denoising.models import DenoiseNet2, UDenoiseNet, UDenoiseNetSmall
from topaz.filters import AffineDenoise

builders = {
    "unet": lambda: UDenoiseNet(base_width=11, top_width=5),
    "unet-small": lambda: UDenoiseNetSmall(width=11, top_width=5),
    "fcnn": lambda: DenoiseNet2(64, width=11),
    "affine": lambda: AffineDenoise(max_size=31),
    "unet-v0.2.1": lambda: UDenoiseNet(base_width=7, top_width=3),
}
if arch not in builders:
    sys.exit(f"unknown architecture {arch}")
torch.manual_seed(0)
model = builders[arch]()
model.train(True)

a = torch.from_numpy(np.fromfile(path_a, dtype="<f4").reshape(n, 1, crop, crop).copy())
b = torch.from_numpy(np.fromfile(path_b, dtype="<f4").reshape(n, 1, crop, crop).copy())
source = torch.cat([a, b], 0)
target = torch.cat([b, a], 0)
loss_fn = nn.MSELoss()
optim = torch.optim.Adagrad(model.parameters(), lr=1e-3)


def step():
    pred = model(source)
    loss = loss_fn(pred, target)
    loss.backward()
    optim.step()
    optim.zero_grad()
    return loss.item()


step()
times = []
loss = float("nan")
for _ in range(max(steps, 1)):
    t0 = time.perf_counter()
    loss = step()
    times.append(time.perf_counter() - t0)
print(json.dumps({
    "seconds_per_step": sum(times) / len(times),
    "best_seconds": min(times),
    "loss": loss,
}))
