"""Writes the small hand-made seed inputs of the fuzz targets (run from fuzz/seeds/)."""
import io, json, os, struct, zipfile


def out(target, name, data):
    os.makedirs(target, exist_ok=True)
    with open(os.path.join(target, name), "wb") as f:
        f.write(data)


def mrc(nx, ny, nz, mode, data, ispg=0, next_=0, cell=None):
    h = bytearray(1024)
    struct.pack_into("<10i", h, 0, nx, ny, nz, mode, 0, 0, 0, nx, ny, nz)
    c = cell or (nx * 1.5, ny * 1.5, nz * 1.5)
    struct.pack_into("<6f", h, 40, *c, 90.0, 90.0, 90.0)
    struct.pack_into("<3i", h, 64, 1, 2, 3)
    struct.pack_into("<2i", h, 88, ispg, next_)
    h[104:108] = b"MRCO"
    struct.pack_into("<i", h, 108, 20140)
    h[208:212] = b"MAP "
    h[212:216] = bytes([0x44, 0x44, 0, 0])
    struct.pack_into("<i", h, 220, 1)
    h[224:234] = b"fuzz seed "
    return bytes(h) + bytes(next_) + data


f32 = lambda n: struct.pack(f"<{n}f", *[i * 0.25 - 1 for i in range(n)])
out("mrc", "f32_4x3.mrc", mrc(4, 3, 1, 2, f32(12)))
out("mrc", "i8_stack.mrc", mrc(3, 2, 2, 0, bytes(range(12))))
out("mrc", "i16_ext.mrc", mrc(2, 2, 2, 1, struct.pack("<8h", *range(-4, 4)), ispg=1, next_=16))
out("mrc", "u16.mrc", mrc(2, 2, 1, 6, struct.pack("<4H", 1, 2, 3, 60000)))
out("mrc", "f16.mrc", mrc(2, 2, 1, 12, struct.pack("<4e", 0.5, 1.0, -2.0, 3.0)))
out("mrc", "packed4.mrc", mrc(4, 2, 1, 101, bytes([0x21, 0x43, 0x65, 0x87])))
out("mrc", "complex.mrc", mrc(2, 1, 1, 4, f32(4)))


def tiff(pages, bits, fmt, description=None):
    """A little-endian TIFF with one strip per grey page (pages: list of (w, h, bytes))."""
    body = bytearray(b"II*\0\0\0\0\0")
    ifd_offsets = []
    for (w, hgt, data) in pages:
        data_off = len(body)
        body += data
        if len(body) % 2:
            body += b"\0"
        desc_off = None
        if description:
            desc_off = len(body)
            body += description.encode() + b"\0"
            if len(body) % 2:
                body += b"\0"
        res_off = len(body)
        body += struct.pack("<2I", 9506, 10000)
        entries = [(256, 3, 1, w), (257, 3, 1, hgt), (258, 3, 1, bits), (259, 3, 1, 1),
                   (262, 3, 1, 1), (273, 4, 1, data_off), (277, 3, 1, 1), (278, 3, 1, hgt),
                   (279, 4, 1, len(data)), (282, 5, 1, res_off), (283, 5, 1, res_off),
                   (339, 3, 1, fmt)]
        if desc_off is not None:
            entries.append((270, 2, len(description) + 1, desc_off))
        entries.sort()
        ifd_offsets.append(len(body))
        body += struct.pack("<H", len(entries))
        for tag, typ, count, value in entries:
            if typ == 3:
                body += struct.pack("<HHIHH", tag, typ, count, value, 0)
            else:
                body += struct.pack("<HHII", tag, typ, count, value)
        body += b"\0\0\0\0"
    struct.pack_into("<I", body, 4, ifd_offsets[0])
    for a, b in zip(ifd_offsets, ifd_offsets[1:]):
        n = struct.unpack_from("<H", body, a)[0]
        struct.pack_into("<I", body, a + 2 + 12 * n, b)
    return bytes(body)


out("tiff", "u8.tif", tiff([(4, 3, bytes(range(12)))], 8, 1))
out("tiff", "f32_stack.tif", tiff([(2, 2, f32(4)), (2, 2, f32(4))], 32, 3,
                                  "ImageJ=1.54f\nimages=2\nslices=2\nunit=nm\n"))
out("tiff", "i16.tif", tiff([(2, 2, struct.pack("<4h", -3, 0, 3, 9))], 16, 2))

sidecar = json.load(open("affine.json"))
out("model_json", "affine.json", json.dumps(sidecar).encode())
for family, arch in [("fcnn", {"family": "fcnn", "nf": 2, "width": 3}),
                     ("unet-small", {"family": "unet-small", "nf": 2, "width": 3, "top_width": 3}),
                     ("unet", {"family": "unet", "nf": 2, "base_width": 3, "top_width": 3})]:
    out("model_json", family + ".json", json.dumps(dict(sidecar, architecture=arch)).encode())
out("model_json", "model3d.json", json.dumps(dict(sidecar, format="cryolens-denoiser-3d",
    architecture={"nf": 2, "base_width": 3, "top_width": 3, "top_channels": [2, 2]})).encode())
out("model_json", "cref.json", json.dumps({
    "format": "cryolens-cref-denoiser", "version": 1,
    "net": {"filters": 2, "kernel": 3, "leak": 0.1}, "parameters": 10, "patch_px": 32,
    "patches_per_epoch": 4, "epochs_run": 1, "best_epoch": 1, "learning_rate": 0.001,
    "final_loss": 0.5, "validation_score": 0.1, "validation_identity": 0.2,
    "pixel_size_angstrom": 1.0, "sources": ["a.mrc"], "created_utc": "2026-01-01T00:00:00Z",
    "cryolens_version": "0.1.0"}).encode())
out("safetensors", "affine.safetensors", open("affine.safetensors", "rb").read())

out("session", "two.json", json.dumps({
    "format": "cryolens-picks", "version": 1,
    "settings": {"box_size_px": 128.0, "particle_diameter_angstrom": 150.0, "circles": True,
                 "autopick_threshold": None},
    "current": 1,
    "micrographs": [{"path": "a.mrc", "picks": [{"x": 1.5, "y": 2.0}, {"x": 3, "y": 4, "score": 0.9}]},
                    {"path": "b.mrc", "picks": [{"x": 5, "y": 6, "z": 7}]}]}, indent=1).encode())

ctffind = """# Output from CTFFind version 4.1.14
# Input file: /data/mic_001.mrc ; Number of micrographs: 1
# Pixel size: 1.000 Angstroms ; acceleration voltage: 300.0 keV ; spherical aberration: 2.70 mm ; amplitude contrast: 0.07
# Columns: #1 - micrograph number; #2 - defocus 1 [Angstroms]; #3 - defocus 2; #4 - azimuth of astigmatism; #5 - additional phase shift [radians]; #6 - cross correlation; #7 - spacing (in Angstroms) up to which CTF rings were fit successfully
1.000000 12000.5 11800.25 35.0 0.0 0.12 3.9
"""
out("ctf", "ctffind.txt", ctffind.encode())

buf = io.BytesIO()
with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
    z.writestr("topaz/__init__.py", "")
    z.writestr("topaz/pretrained/denoise/affine_L1_v0.2.2.sav", b"\x80\x02}q\x00." * 4)
    z.writestr("topaz/pretrained/denoise/sub/skip.sav", b"x")
    z.writestr("topaz_em-0.3.20.dist-info/RECORD", "")
out("wheel", "topaz_em.whl", buf.getvalue())
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
    z.writestr("topaz/pretrained/denoise/x.sav", b"stored")
out("wheel", "stored.whl", buf.getvalue())
