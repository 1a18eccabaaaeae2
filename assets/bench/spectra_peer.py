"""numpy reference of `cryolens bench --what spectra`: the same power spectrum and even/odd
analysis as Cryolens, timed on the same inputs, and checked against Cryolens's numbers.

Usage: python spectra_peer.py DIR [REPEATS]

DIR is written by `cryolens bench --what spectra` and holds float32 MRC files `raw.mrc`
(the micrograph), `m1.mrc`, `m2.mrc` (two halves from binomial count splitting of it) and
`d1.mrc`, `d2.mrc` (the halves after a fixed linear "denoiser", a Gaussian low-pass of
sigma 2 px), plus `cryolens.json` (Cryolens's results). Files are read before any timing.
Needs numpy >= 2 (float32 FFTs stay float32) and mrcfile; no scipy.

Images are numpy arrays [y, x] (rows = y), as Cryolens's row-major [y * width + x].

1. Power spectrum (timed): Welch's averaged periodogram of 512 x 512 tiles, as
   `cryolens::fourier::power_spectrum_linear(image, 512, Window::Hann)`:
   - tile starts along an axis of length L: 0, 256, 512, ... while start + 512 <= L (a single
     tile at 0, zero-padded, when L <= 512); all (x, y) combinations;
   - each tile: minus its own mean (float64 mean, then float32), times the periodic Hann
     window w(i) = 1/2 - 1/2 cos(2 pi i / 512) along x and along y, zero-padded beyond the
     image; float32 real FFT (`numpy.fft.rfft2`), |F|^2 summed over tiles in float64;
   - divided by (number of tiles * (sum_i w(i)^2)^2), completed to the full plane by
     P(-kx, -ky) = P(kx, ky), centred (`fftshift`: DC at (256, 256)), cast to float32;
   then its rotational average as `cryolens::fourier::rotational_average`: pixel (x, y) at
   frequency sqrt(((x - 256)/512)^2 + ((y - 256)/512)^2) cycles/px goes to ring
   round(f * 512) (halves away from zero); rings 0..256, mean power per ring.
2. Even/odd analysis (timed), as `frank_al_ali_snr(m1, m2)`, `frc(m1, m2, 4)` and
   `variance_estimate_rings(m1, m2, d1, d2, 4)` of `cryolens::metrics`, each computed on its
   own as Cryolens does (no transform shared between the three):
   - Frank & Al-Ali: population covariances in float64, cc = cov12 / sqrt(var1 var2),
     SNR = cc / (1 - cc);
   - rings: each image minus its mean (float32), float32 `rfft2`; component (kx, ky) (ky
     signed, kx = 0..width/2) has f = sqrt((kx/width)^2 + (ky/height)^2) cycles/px and ring
     r = round(f * n / 4), n = min(width, height); rings 0..floor(n/2/4); DC and corners
     beyond Nyquist left out; half-plane columns weigh 2 (1 for kx = 0 and an even width's
     Nyquist column); per ring: sum(weight * Re(X conj Y)) / (components * width * height);
   - FRC = c12 / sqrt(c11 c22); variances (Palovcak et al. 2020 supplement eq. 15-18, 24):
     signal = c(M1,M2), noise_noisy = sqrt(c(M1,M1) c(M2,M2)) - c(M1,M2), noise_denoised the
     same for D, bias = c(D1,D2) + c(M1,M2) - (c(M1,D2) + c(M2,D1)).
Each is run REPEATS times (default 3); the minimum wall time is reported. numpy's FFT
(pocketfft) runs on one thread.

Prints one JSON line: {"spectrum_seconds", "analysis_seconds", "spectrum_max_rel_diff"
(max over rings of |numpy - Cryolens| / |Cryolens| of the rotational average),
"analysis_max_rel_diff" (max over cc, the FRC curve and the four variance curves of
max |numpy - Cryolens| / max |Cryolens| over that curve)}.
"""
import json
import sys
import time

import mrcfile
import numpy as np

TILE = 512
RING_WIDTH = 4.0


def read(path):
    with mrcfile.open(path, permissive=True) as f:
        a = np.array(f.data, dtype=np.float32)
    return a[0] if a.ndim == 3 else a


def tile_starts(length, tile):
    if length <= tile:
        return [0]
    return list(range(0, length - tile + 1, max(tile // 2, 1)))


def power_spectrum_linear(image, tile):
    h, w = image.shape
    i = np.arange(tile, dtype=np.float64)
    win = (0.5 - 0.5 * np.cos(2.0 * np.pi * i / tile)).astype(np.float32)
    win2d = win[:, None] * win[None, :]
    win_sq = float(np.sum(win.astype(np.float64) ** 2)) ** 2
    starts = [(x, y) for y in tile_starts(h, tile) for x in tile_starts(w, tile)]
    hw = tile // 2 + 1
    acc = np.zeros((tile, hw), dtype=np.float64)
    chunk = 16
    for c in range(0, len(starts), chunk):
        part = starts[c:c + chunk]
        batch = np.zeros((len(part), tile, tile), dtype=np.float32)
        for k, (x0, y0) in enumerate(part):
            t = image[y0:y0 + tile, x0:x0 + tile]
            batch[k, :t.shape[0], :t.shape[1]] = t - np.float32(t.mean(dtype=np.float64))
        batch *= win2d
        f = np.fft.rfft2(batch)
        acc += np.sum(f.real * f.real + f.imag * f.imag, axis=0, dtype=np.float64)
    acc /= len(starts) * win_sq
    full = np.empty((tile, tile), dtype=np.float64)
    full[:, :hw] = acc
    neg = np.arange(hw, tile)
    full[:, hw:] = acc[(-np.arange(tile)) % tile][:, tile - neg]
    return np.fft.fftshift(full).astype(np.float32)


def rotational_average(spec):
    h, w = spec.shape
    n = min(w, h)
    rings = n // 2 + 1
    fy = (np.arange(h, dtype=np.float64) - h // 2) / h
    fx = (np.arange(w, dtype=np.float64) - w // 2) / w
    r = np.floor(np.sqrt(fx[None, :] * fx[None, :] + fy[:, None] * fy[:, None]) * n + 0.5)
    r = r.astype(np.int64).ravel()
    keep = r < rings
    s = np.bincount(r[keep], weights=spec.ravel()[keep].astype(np.float64), minlength=rings)
    c = np.bincount(r[keep], minlength=rings)
    ok = c > 0
    return (s[ok] / c[ok]).astype(np.float32)


def spectrum(image):
    return rotational_average(power_spectrum_linear(image, TILE))


class RingGrid:
    def __init__(self, h, w, ring_width):
        n = min(w, h)
        self.max_ring = int(np.floor((n / 2.0) / ring_width + 1e-9))
        hw = w // 2 + 1
        fx = np.arange(hw, dtype=np.float64) / w
        ky = np.arange(h)
        fy = np.where(ky <= h // 2, ky, ky - h).astype(np.float64) / h
        r = np.floor(np.sqrt(fx[None, :] * fx[None, :] + fy[:, None] * fy[:, None]) * n
                     / ring_width + 0.5)
        r[0, 0] = self.max_ring + 1
        r = np.minimum(r, self.max_ring + 1).astype(np.int64)
        wgt = np.full(hw, 2.0)
        wgt[0] = 1.0
        if w % 2 == 0:
            wgt[w // 2] = 1.0
        self.ring = r.ravel()
        self.weight = np.broadcast_to(wgt[None, :], (h, hw)).ravel()
        self.bins = self.max_ring + 2
        self.counts = np.bincount(self.ring, weights=self.weight, minlength=self.bins)[:-1]
        self.npix = float(w * h)

    def cross(self, x, y):
        re = (x.real * y.real + x.imag * y.imag).ravel()
        s = np.bincount(self.ring, weights=re * self.weight, minlength=self.bins)[:-1]
        out = np.zeros_like(s)
        ok = self.counts > 0
        out[ok] = s[ok] / (self.counts[ok] * self.npix)
        return out


def half_spectra(images):
    return [np.fft.rfft2(m - np.float32(m.mean(dtype=np.float64))) for m in images]


def frank_al_ali_snr(a, b):
    a = a.astype(np.float64).ravel()
    b = b.astype(np.float64).ravel()
    a -= a.mean()
    b -= b.mean()
    n = a.size
    vx, vy, cxy = a @ a / n, b @ b / n, a @ b / n
    cc = cxy / np.sqrt(vx * vy)
    return cc, cc / (1.0 - cc)


def frc(m1, m2):
    g = RingGrid(*m1.shape, RING_WIDTH)
    x, y = half_spectra([m1, m2])
    xy, xx, yy = g.cross(x, y), g.cross(x, x), g.cross(y, y)
    den = np.sqrt(xx * yy)
    f = np.where(den > 0, xy / np.where(den > 0, den, 1.0), 0.0)
    return np.clip(f, -1.0, 1.0)[g.counts > 0]


def variance_estimate_rings(m1, m2, d1, d2):
    g = RingGrid(*m1.shape, RING_WIDTH)
    a, b, c, d = half_spectra([m1, m2, d1, d2])
    m11, m22, m12 = g.cross(a, a), g.cross(b, b), g.cross(a, b)
    d11, d22, d12 = g.cross(c, c), g.cross(d, d), g.cross(c, d)
    m1d2, m2d1 = g.cross(a, d), g.cross(b, c)
    signal = m12
    noise_noisy = np.sqrt(np.maximum(m11 * m22, 0.0)) - m12
    noise_denoised = np.sqrt(np.maximum(d11 * d22, 0.0)) - d12
    bias = d12 + m12 - (m1d2 + m2d1)
    ok = g.counts > 0
    return np.stack([signal, noise_noisy, noise_denoised, bias], axis=1)[ok]


def analysis(m1, m2, d1, d2):
    cc, _ = frank_al_ali_snr(m1, m2)
    return cc, frc(m1, m2), variance_estimate_rings(m1, m2, d1, d2)


def best_of(repeats, fn):
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def scaled_diff(ours, theirs):
    ours = np.asarray(ours, dtype=np.float64)
    theirs = np.asarray(theirs, dtype=np.float64)
    if ours.shape != theirs.shape:
        return float("inf")
    scale = np.max(np.abs(theirs))
    return float(np.max(np.abs(ours - theirs)) / scale) if scale > 0 else 0.0


def main():
    directory = sys.argv[1]
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    raw = read(f"{directory}/raw.mrc")
    m1, m2, d1, d2 = (read(f"{directory}/{n}.mrc") for n in ("m1", "m2", "d1", "d2"))
    with open(f"{directory}/cryolens.json") as f:
        ref = json.load(f)

    t_spec, rot = best_of(repeats, lambda: spectrum(raw))
    t_ana, (cc, frc_curve, var_rings) = best_of(repeats, lambda: analysis(m1, m2, d1, d2))

    theirs = np.array([p for _, p in ref["rotational_average"]], dtype=np.float64)
    if theirs.shape != rot.shape:
        spec_diff = float("inf")
    else:
        spec_diff = float(np.max(np.abs(rot - theirs) / np.maximum(np.abs(theirs), 1e-30)))
    rings = np.array(ref["rings"], dtype=np.float64)
    diffs = [abs(cc - ref["cc"]) / max(abs(ref["cc"]), 1e-30),
             scaled_diff(frc_curve, [v for _, v in ref["frc"]])]
    for k in range(4):
        diffs.append(scaled_diff(var_rings[:, k], rings[:, 1 + k])
                     if rings.shape == (var_rings.shape[0], 5) else float("inf"))
    print(json.dumps({
        "spectrum_seconds": t_spec,
        "analysis_seconds": t_ana,
        "spectrum_max_rel_diff": spec_diff,
        "analysis_max_rel_diff": max(diffs),
    }))


if __name__ == "__main__":
    main()
