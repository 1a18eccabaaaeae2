"""Writes tomo.zarr, the OME-Zarr fixture of tests/omezarr.rs, with the tools that write
OME-Zarr in the field: ome-zarr-py's writer (OME-NGFF 0.4 on Zarr v2) and Blosc/zstd chunks,
as the CZ cryoET Data Portal stores its tomograms.

    pip install "zarr<3" ome-zarr numcodecs   # zarr 2.18.7, ome-zarr 0.x, numcodecs 0.12+
    python3 make_store.py

Level 0: 12 x 40 x 36 voxels (z, y, x), value(z, y, x) = 0.5 * ((z * 40 + y) * 36 + x) - 100,
13.48 A/voxel; level 1: level 0 at every second voxel, 26.96 A/voxel; chunks 8 x 16 x 16.
"""
import numcodecs
import numpy as np
import zarr
from ome_zarr.io import parse_url
from ome_zarr.writer import write_multiscale

z, y, x = 12, 40, 36
level0 = (np.arange(z * y * x, dtype=np.float32).reshape(z, y, x) * 0.5 - 100).astype(np.float32)
level1 = level0[::2, ::2, ::2].copy()
root = zarr.group(store=parse_url("tomo.zarr", mode="w").store)
axes = [{"name": n, "type": "space", "unit": "angstrom"} for n in "zyx"]
write_multiscale(
    [level0, level1],
    group=root,
    axes=axes,
    coordinate_transformations=[
        [{"type": "scale", "scale": [13.48] * 3}],
        [{"type": "scale", "scale": [26.96] * 3}],
    ],
    storage_options=dict(
        chunks=(8, 16, 16),
        compressor=numcodecs.Blosc(cname="zstd", clevel=5, shuffle=numcodecs.Blosc.SHUFFLE),
    ),
)
