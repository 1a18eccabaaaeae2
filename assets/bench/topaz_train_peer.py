"""Time Topaz's noise2noise training step on the CPU (`cryolens bench --what train`) or on CUDA
(`assets/bench/gpu/run.sh`).

Usage: python topaz_train_peer.py ARCH A.f32 B.f32 N CROP STEPS THREADS [--cuda] [--warmup K]
       [--precision default|ieee] [--json RESULT.json]

A.f32 and B.f32 hold N crops of CROP x CROP float32 values (little-endian, row-major), the two halves of
each crop pair. Topaz's own model class for ARCH (unet, unet-small, fcnn, affine,
unet-v0.2.1; randomly initialised with seed 0, as `topaz denoise --train` starts), plain
PyTorch training steps as Topaz's trainer does: both directions ([A; B] -> [B; A]), MSE (L2)
loss, Adagrad with lr 1e-3.

--cuda puts the model and the (already stacked) batch on the GPU and wraps each
timed step in torch.cuda.synchronize(); the step ends with loss.item(), which waits for the
GPU anyway. --warmup K untimed steps first (default 1; cuDNN picks its algorithms then).
--precision ieee turns TF32 off (default: PyTorch's defaults, i.e. TF32 convolutions).
Prints one JSON line: {"seconds_per_step": mean, "best_seconds": min, "loss": last loss,
"steps": STEPS, "warmup": K, "device": ..., "peak_gpu_mib": ...}; --json also writes it.
"""
import argparse
import json
import sys
import time

p = argparse.ArgumentParser()
p.add_argument("arch")
p.add_argument("path_a")
p.add_argument("path_b")
p.add_argument("n", type=int)
p.add_argument("crop", type=int)
p.add_argument("steps", type=int)
p.add_argument("threads", type=int)
p.add_argument("--cuda", action="store_true")
p.add_argument("--warmup", type=int, default=1)
p.add_argument("--precision", default="default", choices=["default", "ieee"])
p.add_argument("--json", default=None)
args = p.parse_args()

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

if args.threads > 0:
    torch.set_num_threads(args.threads)
if args.cuda and not torch.cuda.is_available():
    sys.exit("--cuda: CUDA is not available to torch")
if args.precision == "ieee":
    try:
        torch.backends.cudnn.conv.fp32_precision = "ieee"
        torch.backends.cuda.matmul.fp32_precision = "ieee"
    except AttributeError:
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
from topaz.denoising.models import DenoiseNet2, UDenoiseNet, UDenoiseNetSmall  # noqa: E402
from topaz.filters import AffineDenoise  # noqa: E402

builders = {
    "unet": lambda: UDenoiseNet(base_width=11, top_width=5),
    "unet-small": lambda: UDenoiseNetSmall(width=11, top_width=5),
    "fcnn": lambda: DenoiseNet2(64, width=11),
    "affine": lambda: AffineDenoise(max_size=31),
    "unet-v0.2.1": lambda: UDenoiseNet(base_width=7, top_width=3),
}
if args.arch not in builders:
    sys.exit(f"unknown architecture {args.arch}")
device = torch.device("cuda" if args.cuda else "cpu")
torch.manual_seed(0)
model = builders[args.arch]().to(device)
model.train(True)

n, crop = args.n, args.crop
a = torch.from_numpy(np.fromfile(args.path_a, dtype="<f4").reshape(n, 1, crop, crop).copy())
b = torch.from_numpy(np.fromfile(args.path_b, dtype="<f4").reshape(n, 1, crop, crop).copy())
source = torch.cat([a, b], 0).to(device)
target = torch.cat([b, a], 0).to(device)
loss_fn = nn.MSELoss()
optim = torch.optim.Adagrad(model.parameters(), lr=1e-3)


def sync():
    if args.cuda:
        torch.cuda.synchronize()


def step():
    pred = model(source)
    loss = loss_fn(pred, target)
    loss.backward()
    optim.step()
    optim.zero_grad()
    return loss.item()


for _ in range(max(args.warmup, 0)):
    step()
if args.cuda:
    torch.cuda.reset_peak_memory_stats()
times = []
loss = float("nan")
for _ in range(max(args.steps, 1)):
    sync()
    t0 = time.perf_counter()
    loss = step()
    sync()
    times.append(time.perf_counter() - t0)
out = {
    "seconds_per_step": sum(times) / len(times),
    "best_seconds": min(times),
    "loss": loss,
    "steps": len(times),
    "warmup": args.warmup,
    "arch": args.arch,
    "crops_per_step": 2 * n,
    "crop": crop,
    "device": torch.cuda.get_device_name(0) if args.cuda else "cpu",
    "precision": args.precision,
    "peak_gpu_mib": torch.cuda.max_memory_allocated() / 2**20 if args.cuda else None,
    "torch": torch.__version__,
}
if args.json:
    with open(args.json, "w") as f:
        json.dump(out, f, indent=1)
print(json.dumps(out))
