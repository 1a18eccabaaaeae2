"""Held-out even/odd halves of fei-extended and the best Gaussian low-pass, for the SNR table
in assets/models/README.md.

Usage: python heldout_halves.py FEI.mrc OUTDIR
Writes OUTDIR/even.mrc and OUTDIR/odd.mrc: rows 2878-3837 (the rows `cryolens train
--holdout 0.25` never crops) split into two halves by binomial count splitting (value/gain
rounded to counts, gain 103.525 as `cryolens analyze` estimates it, numpy seed 1, independent
of the training split). Prints Topaz's even/odd SNR (dB, mean of both ways) of the raw halves
and of Gaussian low-passes with sigma 1-24 px, and the best of them.
Needs numpy and mrcfile.
"""
import sys

import mrcfile
import numpy as np

src, out = sys.argv[1], sys.argv[2]
with mrcfile.open(src, permissive=True) as m:
    full = m.data.astype(np.float64)
    voxel = float(m.voxel_size.x)
rows = full[2878:3838]
gain = 103.525
counts = np.clip(np.rint(rows / gain), 0, None).astype(np.int64)
rng = np.random.default_rng(1)
even = rng.binomial(counts, 0.5)
odd = counts - even
for name, half in (("even", even), ("odd", odd)):
    with mrcfile.new(f"{out}/{name}.mrc", overwrite=True) as m:
        m.set_data(half.astype(np.float32))
        m.voxel_size = voxel


def cc(a, b):
    a = a - a.mean()
    b = b - b.mean()
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


def db(c):
    return 10 * np.log10(c / (1 - c))


def gauss(img, sigma):
    fy = np.fft.fftfreq(img.shape[0])[:, None]
    fx = np.fft.rfftfreq(img.shape[1])[None, :]
    h = np.exp(-2 * np.pi**2 * sigma**2 * (fx**2 + fy**2))
    return np.fft.irfft2(np.fft.rfft2(img) * h, s=img.shape)


even = even.astype(np.float64)
odd = odd.astype(np.float64)
print(f"raw halves: {db(cc(even, odd)):.2f} dB (cc between the halves)")
best = None
for sigma in range(1, 25):
    s = 0.5 * (db(cc(gauss(odd, sigma), even)) + db(cc(gauss(even, sigma), odd)))
    print(f"gaussian sigma {sigma:2d} px: {s:.2f} dB")
    if best is None or s > best[1]:
        best = (sigma, s)
print(f"best low-pass: sigma {best[0]} px, {best[1]:.2f} dB")
