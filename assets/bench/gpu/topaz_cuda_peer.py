"""Time the published Topaz-Denoise (topaz-em 0.3.20) on CUDA, for assets/bench/gpu/run.sh.

The GPU counterpart of ../topaz_peer.py: the same calls Topaz's own commands make, with the
model on the GPU (`Denoise(name, use_cuda=True)`) and torch.cuda.synchronize() around every
timed call. One warm-up call, then --repeats timed calls per case.

Usage:
  python3 topaz_cuda_peer.py 2d --input FRAME.mrc --models unet,unet-small,fcnn \
      [--modes whole,tiled] [--precisions default,ieee] [--repeats 3] \
      [--save unet:whole:ieee=/tmp/out.mrc ...] [--parity-input SAMPLE.mrc --parity-prefix P] \
      [--weights DIR] [--device cuda|cpu] --json RESULT.json
  python3 topaz_cuda_peer.py 3d --input TOMO.mrc [--model unet-3d-10a] [--patch-size 96] \
      [--padding 48] [--precisions default,ieee] [--repeats 3] [--save-prefix P] ...

2d cases: `whole` is one forward pass over the whole micrograph (denoise_image with
patch_size=-1); `tiled` is `topaz denoise`'s default tiling, patch_size=1024, padding=500
(each padded tile re-normalised by its own statistics, as Topaz does). 3d: Topaz's
`denoise3d` default path, Denoise3D(...).denoise(vol, patch_size=96, padding=48,
batch_size=1).

Precisions: `default` leaves PyTorch's defaults (cuDNN convolutions in TF32 on Ampere and
later: what a Topaz user gets); `ieee` forces full FP32 convolutions and matrix products
(the like-for-like comparison with an FP32 implementation).

--weights DIR: where the .sav files are. They are copied by run.sh into topaz's own
pretrained/denoise folder, so Topaz's published loader is used; when that loader fails, the
peer falls back to reading the same file names from DIR (logged in the result).

The result file holds, per case: warmup_s, runs_s (each timed call), best_s, mean_s,
peak_gpu_mib (torch.cuda.max_memory_allocated over the case), and the output shape; plus the
torch/CUDA/cuDNN versions and the GPU name. The last line printed is the same JSON.
"""
import argparse
import json
import os
import sys
import time

import numpy as np


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="dims", required=True)
    for name in ("2d", "3d"):
        s = sub.add_parser(name)
        s.add_argument("--input", required=True)
        s.add_argument("--precisions", default="default,ieee")
        s.add_argument("--repeats", type=int, default=3)
        s.add_argument("--weights", default=None)
        s.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
        s.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
        s.add_argument("--json", required=True)
        if name == "2d":
            s.add_argument("--models", default="unet,unet-small,fcnn")
            s.add_argument("--modes", default="whole,tiled")
            s.add_argument("--save", action="append", default=[],
                           help="MODEL:MODE:PRECISION=PATH: write that case's output (float32 MRC)")
            s.add_argument("--parity-input", default=None,
                           help="also denoise this micrograph whole with unet under each precision")
            s.add_argument("--parity-prefix", default=None,
                           help="...writing PREFIX.<precision>.mrc")
        else:
            s.add_argument("--model", default="unet-3d-10a")
            s.add_argument("--patch-size", type=int, default=96)
            s.add_argument("--padding", type=int, default=48)
            s.add_argument("--save-prefix", default=None,
                           help="write the last output of each precision to PREFIX.<precision>.mrc")
    return p.parse_args()


args = parse_args()

import mrcfile  # noqa: E402
import torch  # noqa: E402

if args.threads > 0:
    torch.set_num_threads(args.threads)
cuda = args.device == "cuda"
if cuda and not torch.cuda.is_available():
    sys.exit("CUDA is not available to torch")

import topaz.denoising.models as topaz_models  # noqa: E402
from topaz.denoise import Denoise, Denoise3D, denoise_image  # noqa: E402

result = {
    "peer": "topaz_cuda_peer.py " + args.dims,
    "device": args.device,
    "torch": torch.__version__,
    "cuda": torch.version.cuda,
    "cudnn": torch.backends.cudnn.version() if cuda else None,
    "gpu": torch.cuda.get_device_name(0) if cuda else None,
    "default_conv_precision": None,
    "weights_loaded_from": "topaz package (pretrained/denoise)",
    "cases": {},
}


def conv_precision():
    try:
        return torch.backends.cudnn.conv.fp32_precision
    except AttributeError:
        return "tf32" if torch.backends.cudnn.allow_tf32 else "ieee"


result["default_conv_precision"] = conv_precision()
DEFAULTS = {}
try:  # PyTorch >= 2.9: per-backend fp32_precision ("tf32" / "ieee" / "none")
    DEFAULTS = {
        "conv": torch.backends.cudnn.conv.fp32_precision,
        "matmul": torch.backends.cuda.matmul.fp32_precision,
    }
except AttributeError:
    DEFAULTS = {"legacy_cudnn": torch.backends.cudnn.allow_tf32,
                "legacy_matmul": torch.backends.cuda.matmul.allow_tf32}


def set_precision(name):
    """`default`: PyTorch's settings at start-up; `ieee`: no TF32 anywhere."""
    if "conv" in DEFAULTS:
        if name == "ieee":
            torch.backends.cudnn.conv.fp32_precision = "ieee"
            torch.backends.cuda.matmul.fp32_precision = "ieee"
        else:
            torch.backends.cudnn.conv.fp32_precision = DEFAULTS["conv"]
            torch.backends.cuda.matmul.fp32_precision = DEFAULTS["matmul"]
    else:
        torch.backends.cudnn.allow_tf32 = DEFAULTS["legacy_cudnn"] if name != "ieee" else False
        torch.backends.cuda.matmul.allow_tf32 = DEFAULTS["legacy_matmul"] if name != "ieee" else False


def load(name, dims):
    cls = Denoise3D if dims == 3 else Denoise
    try:
        return cls(name, use_cuda=cuda, dims=dims)
    except Exception as e:  # noqa: BLE001 - Topaz wraps everything in ValueError
        if not args.weights:
            raise
        print(f"# Topaz's loader failed ({e!r}); reading weights from {args.weights}", file=sys.stderr)
        folder = args.weights

        def from_folder(pkg, path, map_location="cpu"):
            with open(os.path.join(folder, os.path.basename(path)), "rb") as f:
                return torch.load(f, map_location=map_location, weights_only=False)

        topaz_models.load_state_dict_from_pkg = from_folder
        result["weights_loaded_from"] = folder
        return cls(name, use_cuda=cuda, dims=dims)


def read(path):
    with mrcfile.open(path, permissive=True) as f:
        x = np.asarray(f.data, dtype=np.float32).copy()
    return x


def write(path, y):
    with mrcfile.new(path, overwrite=True) as f:
        f.set_data(np.ascontiguousarray(y, dtype=np.float32))


def sync():
    if cuda:
        torch.cuda.synchronize()


def timed(fn, repeats):
    """One warm-up call, then `repeats` timed calls; returns (stats, last output)."""
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    sync()
    t0 = time.perf_counter()
    y = fn()
    sync()
    warm = time.perf_counter() - t0
    runs = []
    for _ in range(max(repeats, 1)):
        sync()
        t0 = time.perf_counter()
        y = fn()
        sync()
        runs.append(time.perf_counter() - t0)
    stats = {
        "warmup_s": warm,
        "runs_s": runs,
        "best_s": min(runs),
        "mean_s": sum(runs) / len(runs),
        "peak_gpu_mib": torch.cuda.max_memory_allocated() / 2**20 if cuda else None,
        "shape": list(np.shape(y)),
    }
    return stats, y


def dump():
    with open(args.json, "w") as f:
        json.dump(result, f, indent=1)


precisions = [p for p in args.precisions.split(",") if p]
with torch.no_grad():
    if args.dims == "2d":
        x = read(args.input)
        if x.ndim == 3:
            x = x[0]
        result["input"] = {"path": args.input, "shape": list(x.shape)}
        saves = {}
        for s in args.save:
            key, path = s.split("=", 1)
            saves[key] = path
        modes = {"whole": (-1, 0), "tiled": (1024, 500)}
        for model in [m for m in args.models.split(",") if m]:
            t0 = time.perf_counter()
            den = load(model, 2)
            sync()
            result["cases"][f"{model}:load"] = {"seconds": time.perf_counter() - t0}
            for prec in precisions:
                set_precision(prec)
                for mode in [m for m in args.modes.split(",") if m]:
                    ps, pad = modes[mode]
                    key = f"{model}:{mode}:{prec}"
                    try:
                        stats, y = timed(lambda: denoise_image(
                            x, [den], patch_size=ps, padding=pad, normalize=False, use_cuda=cuda),
                            args.repeats)
                        stats.update({"patch_size": ps, "padding": pad})
                        result["cases"][key] = stats
                        if key in saves:
                            write(saves[key], y)
                    except Exception as e:  # noqa: BLE001 - record and go on (e.g. out of memory)
                        result["cases"][key] = {"error": repr(e)[:500]}
                    print(key, json.dumps(result["cases"][key]), flush=True)
                    dump()
            if args.parity_input and model == "unet":
                xp = read(args.parity_input)
                for prec in precisions:
                    set_precision(prec)
                    yp = denoise_image(xp, [den], patch_size=-1, padding=0, normalize=False,
                                       use_cuda=cuda)
                    write(f"{args.parity_prefix}.{prec}.mrc", yp)
                result["parity_input"] = {"path": args.parity_input, "shape": list(xp.shape),
                                          "outputs": [f"{args.parity_prefix}.{p}.mrc" for p in precisions]}
            del den
            if cuda:
                torch.cuda.empty_cache()
    else:
        vol = read(args.input)
        result["input"] = {"path": args.input, "shape": list(vol.shape)}
        t0 = time.perf_counter()
        den = load(args.model, 3)
        sync()
        result["cases"][f"{args.model}:load"] = {"seconds": time.perf_counter() - t0}
        for prec in precisions:
            set_precision(prec)
            key = f"{args.model}:patch{args.patch_size}_pad{args.padding}:{prec}"
            try:
                stats, y = timed(lambda: den.denoise(vol, patch_size=args.patch_size,
                                                     padding=args.padding, batch_size=1,
                                                     verbose=False), args.repeats)
                stats.update({"patch_size": args.patch_size, "padding": args.padding})
                result["cases"][key] = stats
                if args.save_prefix:
                    write(f"{args.save_prefix}.{prec}.mrc", y)
            except Exception as e:  # noqa: BLE001
                result["cases"][key] = {"error": repr(e)[:500]}
            print(key, json.dumps(result["cases"][key]), flush=True)
            dump()
dump()
print(json.dumps(result))
