"""Cut a square from a micrograph into a float32 MRC with the same pixel size (numpy and mrcfile).

Usage: python crop_mrc.py IN.mrc OUT.mrc X0 Y0 SIDE

X0 is the first column, Y0 the first row (pixels, origin at the first pixel stored, as
Cryolens's Image::crop). Reads one-image MRCs with `mrcfile` (`pip install mrcfile numpy`);
writes float32 with the same pixel size. The README's NT2C table uses
`python crop_mrc.py fei-extended.mrc fei2048.mrc 800 900 2048`.
"""

import sys

import mrcfile
import numpy as np


def main():
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    src, dst = sys.argv[1], sys.argv[2]
    x0, y0, n = (int(v) for v in sys.argv[3:6])
    with mrcfile.open(src, permissive=True) as m:
        if m.data is None or m.data.ndim != 2:
            sys.exit(f"error: {src}: not a single-image MRC (give one micrograph)")
        image = m.data
        pixel = float(m.voxel_size.x) or 1.0
    ny, nx = image.shape
    if x0 < 0 or y0 < 0 or x0 + n > nx or y0 + n > ny:
        sys.exit(f"error: {src}: a {n} px square at ({x0}, {y0}) leaves the {nx}x{ny} image")
    crop = np.ascontiguousarray(image[y0:y0 + n, x0:x0 + n], dtype=np.float32)
    with mrcfile.new(dst, overwrite=True) as m:
        m.set_data(crop)
        m.voxel_size = pixel
    print(f"{dst}: {n}x{n} px at {pixel:.4f} A/px from ({x0}, {y0}) of {src}")


if __name__ == "__main__":
    main()
