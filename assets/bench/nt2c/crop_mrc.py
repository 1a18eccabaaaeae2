"""Cut a square from a micrograph into a float32 MRC with the same pixel size (numpy only).

Usage: python crop_mrc.py IN.mrc OUT.mrc X0 Y0 SIDE

X0 is the first column, Y0 the first row (pixels, origin at the first pixel stored, as
Cryolens's Image::crop). Reads MRC modes 1, 2 and 6 (one image); writes mode 2 with the cell
scaled so the pixel size is kept. The README's NT2C table uses
`python crop_mrc.py fei-extended.mrc fei2048.mrc 800 900 2048`.
"""

import struct
import sys

import numpy as np

MODES = {1: np.int16, 2: np.float32, 6: np.uint16}


def main():
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    src, dst = sys.argv[1], sys.argv[2]
    x0, y0, n = (int(v) for v in sys.argv[3:6])
    with open(src, "rb") as f:
        head = f.read(1024)
        nx, ny, nz, mode = struct.unpack("<4i", head[:16])
        mx = struct.unpack("<i", head[28:32])[0]
        xlen = struct.unpack("<f", head[40:44])[0]
        nsymbt = struct.unpack("<i", head[92:96])[0]
        if mode not in MODES or nz != 1:
            sys.exit(f"error: {src}: MRC mode {mode} with {nz} sections (need one image of mode 1, 2 or 6)")
        f.seek(1024 + nsymbt)
        data = np.frombuffer(f.read(nx * ny * np.dtype(MODES[mode]).itemsize), dtype=MODES[mode])
    image = data.reshape(ny, nx)
    if x0 < 0 or y0 < 0 or x0 + n > nx or y0 + n > ny:
        sys.exit(f"error: {src}: a {n} px square at ({x0}, {y0}) leaves the {nx}x{ny} image")
    crop = np.ascontiguousarray(image[y0:y0 + n, x0:x0 + n], dtype="<f4")
    pixel = xlen / mx if mx > 0 else 1.0
    out = bytearray(1024)
    struct.pack_into("<4i", out, 0, n, n, 1, 2)
    struct.pack_into("<3i", out, 28, n, n, 1)
    struct.pack_into("<3f", out, 40, n * pixel, n * pixel, pixel)
    struct.pack_into("<3f", out, 52, 90.0, 90.0, 90.0)
    struct.pack_into("<3i", out, 64, 1, 2, 3)
    struct.pack_into("<3f", out, 76, float(crop.min()), float(crop.max()), float(crop.mean()))
    out[208:212] = b"MAP "
    out[212:216] = bytes([0x44, 0x44, 0, 0])
    struct.pack_into("<f", out, 216, float(crop.std()))
    with open(dst, "wb") as f:
        f.write(bytes(out))
        f.write(crop.tobytes())
    print(f"{dst}: {n}x{n} px at {pixel:.4f} A/px from ({x0}, {y0}) of {src}")


if __name__ == "__main__":
    main()
