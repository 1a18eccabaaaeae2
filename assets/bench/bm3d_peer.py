"""BM3D baseline for `cryolens score` (Noise-Transfer2Clean's Table 1 lists BM3D among the
classical denoisers): PyPI's `bm3d` (Mäkinen, Azzari and Foi's reference implementation) run
on one micrograph, written as a float32 MRC with the input's pixel size.

Usage: python bm3d_peer.py IN.mrc OUT.mrc [SIGMA]

The micrograph is z-scored (its mean and standard deviation), denoised by `bm3d.bm3d` with
white-noise sigma SIGMA in those units (default: estimated as the median absolute deviation of
the finest diagonal Haar wavelet coefficients / 0.6745, Donoho and Johnstone's estimator,
which the shot noise of a counting micrograph dominates), then put back in the input's units.
Needs numpy and bm3d (`pip install bm3d`); reads MRC modes 1, 2 and 6 without mrcfile.
Prints the sigma used and the seconds BM3D took.
"""

import struct
import sys
import time

import numpy as np
import bm3d

MODES = {1: np.int16, 2: np.float32, 6: np.uint16}


def read_mrc(path):
    with open(path, "rb") as f:
        head = f.read(1024)
        nx, ny, nz, mode = struct.unpack("<4i", head[:16])
        mx = struct.unpack("<i", head[28:32])[0]
        xlen = struct.unpack("<f", head[40:44])[0]
        nsymbt = struct.unpack("<i", head[92:96])[0]
        if mode not in MODES or nz != 1:
            sys.exit(f"error: {path}: MRC mode {mode} with {nz} sections (need one image of mode 1, 2 or 6)")
        f.seek(1024 + nsymbt)
        data = np.frombuffer(f.read(nx * ny * np.dtype(MODES[mode]).itemsize), dtype=MODES[mode])
    pixel = xlen / mx if mx > 0 else 1.0
    return data.reshape(ny, nx).astype(np.float32), pixel


def write_mrc(path, image, pixel):
    ny, nx = image.shape
    head = bytearray(1024)
    struct.pack_into("<4i", head, 0, nx, ny, 1, 2)
    struct.pack_into("<3i", head, 28, nx, ny, 1)
    struct.pack_into("<3f", head, 40, nx * pixel, ny * pixel, pixel)
    struct.pack_into("<3f", head, 52, 90.0, 90.0, 90.0)
    struct.pack_into("<3i", head, 64, 1, 2, 3)
    struct.pack_into("<3f", head, 76, float(image.min()), float(image.max()), float(image.mean()))
    head[208:212] = b"MAP "
    head[212:216] = bytes([0x44, 0x44, 0, 0])
    struct.pack_into("<f", head, 216, float(image.std()))
    with open(path, "wb") as f:
        f.write(bytes(head))
        f.write(image.astype("<f4").tobytes())


def haar_sigma(z):
    h, w = (z.shape[0] // 2) * 2, (z.shape[1] // 2) * 2
    a, b = z[0:h:2, 0:w:2], z[0:h:2, 1:w:2]
    c, d = z[1:h:2, 0:w:2], z[1:h:2, 1:w:2]
    hh = (a - b - c + d) / 2.0
    return float(np.median(np.abs(hh)) / 0.6745)


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    image, pixel = read_mrc(sys.argv[1])
    mean, sd = float(image.mean()), float(image.std())
    z = (image - mean) / sd
    sigma = float(sys.argv[3]) if len(sys.argv) == 4 else haar_sigma(z)
    started = time.perf_counter()
    out = bm3d.bm3d(z, sigma_psd=sigma, stage_arg=bm3d.BM3DStages.ALL_STAGES)
    seconds = time.perf_counter() - started
    write_mrc(sys.argv[2], np.asarray(out, dtype=np.float32) * sd + mean, pixel)
    print(f"bm3d: sigma {sigma:.4f} (z-scored units), {seconds:.1f} s -> {sys.argv[2]}")


if __name__ == "__main__":
    main()
