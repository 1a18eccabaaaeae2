# Builds the crefDenoiser network as the authors released it (Agarwal et al. 2024) in
# TensorFlow/Keras 2 (tf_keras, channel-last, 'same' padding), gives it seeded random weights
# and biases, saves a TensorFlow checkpoint (model.save_weights, the format of the authors'
# release) and records its output on a fixed 32^3 input. tests/cref_tf.rs compares Cryolens'
# import of this checkpoint and its forward pass with that output.
#
#   pip install tensorflow-cpu tf_keras
#   python3 tests/data/cref_tf/make_checkpoint.py tests/data/cref_tf
#   python3 src/models/format/cref_tf_export.py tests/data/cref_tf/checkpoint \
#       tests/data/cref_tf/arrays.safetensors
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
import numpy as np  # noqa: E402
import tf_keras as keras  # noqa: E402
from tf_keras import layers  # noqa: E402


def network(leak=0.1):
    def conv(filters, x, act=True):
        x = layers.Conv3D(filters, 3, padding="same")(x)
        return layers.LeakyReLU(leak)(x) if act else x

    inp = keras.Input((None, None, None, 1))
    skips = [inp]
    x = conv(16, conv(16, inp))
    x = layers.MaxPooling3D(2)(x)
    skips.append(x)
    for _ in range(3):
        x = layers.MaxPooling3D(2)(conv(16, x))
        skips.append(x)
    x = layers.MaxPooling3D(2)(conv(16, x))
    x = conv(16, x)
    for skip in reversed(skips[1:]):
        x = layers.Concatenate()([layers.UpSampling3D(2)(x), skip])
        x = conv(32, conv(32, x))
    x = layers.Concatenate()([layers.UpSampling3D(2)(x), inp])
    x = conv(8, conv(16, x))
    out = conv(1, x, act=False)
    return keras.Model(inp, out)


def main(folder):
    model = network()
    assert model.count_params() == 322_881, model.count_params()
    rng = np.random.default_rng(15)
    # He-scaled kernels (output of order 1) and non-zero biases, so that both are checked.
    model.set_weights(
        [
            rng.normal(0.0, (2.0 / np.prod(w.shape[:-1])) ** 0.5 if w.ndim == 5 else 0.1, w.shape)
            .astype("float32")
            for w in model.get_weights()
        ]
    )
    model.save_weights(os.path.join(folder, "checkpoint", "cref"))
    x = rng.normal(0.0, 1.0, (1, 32, 32, 32, 1)).astype("float32")
    y = model(x, training=False).numpy()
    np.save(os.path.join(folder, "input.npy"), x[0, :, :, :, 0])
    np.save(os.path.join(folder, "output.npy"), y[0, :, :, :, 0])
    print("parameters", model.count_params(), "output mean", y.mean(), "sd", y.std())


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(__file__))
