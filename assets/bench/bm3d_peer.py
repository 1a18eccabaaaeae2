"""BM3D baseline for `cryolens score` (Noise-Transfer2Clean's Table 1 lists BM3D among the
classical denoisers): PyPI's `bm3d` (Mäkinen, Azzari and Foi's reference implementation) run
on one micrograph, written as a float32 MRC with the input's pixel size.

Usage: python bm3d_peer.py IN.mrc OUT.mrc [SIGMA]

The micrograph is z-scored (its mean and standard deviation), denoised by `bm3d.bm3d` with
white-noise sigma SIGMA in those units (default: estimated as the median absolute deviation of
the finest diagonal Haar wavelet coefficients / 0.6745, Donoho and Johnstone's estimator,
which the shot noise of a counting micrograph dominates), then put back in the input's units.
Needs numpy, mrcfile and bm3d (`pip install bm3d mrcfile`).
Prints the sigma used and the seconds BM3D took.
"""

import sys
import time

import bm3d
import mrcfile
import numpy as np


def read_mrc(path):
    with mrcfile.open(path, permissive=True) as m:
        if m.data is None or m.data.ndim != 2:
            sys.exit(f"error: {path}: not a single-image MRC (give one micrograph)")
        return m.data.astype(np.float32), float(m.voxel_size.x) or 1.0


def write_mrc(path, image, pixel):
    with mrcfile.new(path, overwrite=True) as m:
        m.set_data(np.ascontiguousarray(image, dtype=np.float32))
        m.voxel_size = pixel


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
