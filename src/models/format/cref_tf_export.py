# Step (a) of `cryolens models import cref`: reads a TensorFlow checkpoint with
# tf.train.load_checkpoint and writes its float variables, under their TensorFlow names, to a
# safetensors file (TensorFlow's layout kept: Conv3D kernels [kd, kh, kw, c_in, c_out]).
# Optimizer slots, counters and the object graph are left out. Step (b), mapping the names to
# Cryolens' crefDenoiser layers, is Rust (models/format/cref_tf.rs).
#
# usage: python3 cref_tf_export.py CHECKPOINT (a folder with a `checkpoint` file, or a prefix)
#        OUT.safetensors
import json
import os
import struct
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def main(src, out):
    reader = tf.train.load_checkpoint(src)
    shapes = reader.get_variable_to_shape_map()
    tensors = {}
    for name in sorted(shapes):
        low = name.lower()
        if "optimizer" in low or "optimizer_slot" in low or name.startswith("_CHECKPOINTABLE"):
            continue
        value = reader.get_tensor(name)
        if not isinstance(value, np.ndarray) or value.dtype.kind != "f" or value.ndim == 0:
            continue
        key = name.replace("/.ATTRIBUTES/VARIABLE_VALUE", "")
        tensors[key] = np.ascontiguousarray(value, dtype="<f4")
    if not tensors:
        sys.exit(f"error: {src}: no float variables in this checkpoint (is it a crefDenoiser?)")
    header, offset = {}, 0
    for key, value in tensors.items():
        header[key] = {
            "dtype": "F32",
            "shape": list(value.shape),
            "data_offsets": [offset, offset + value.nbytes],
        }
        offset += value.nbytes
    header["__metadata__"] = {"source": "tensorflow checkpoint", "tensorflow": tf.__version__}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    tmp = out + ".part"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for value in tensors.values():
            f.write(value.tobytes())
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, out)
    print(f"{len(tensors)} variables")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: cref_tf_export.py CHECKPOINT OUT.safetensors")
    main(sys.argv[1], sys.argv[2])
