"""Child process of the cross-backend zoo test: load a pretrained folder with
``keras_lt.from_pretrained`` on this process's backend; write its logits on the
given uint8 images and its inference weights.

    python tests/load_pretrained_child.py <folder> inputs.npz out.npz
"""

import sys

import keras
import numpy as np

import keras_lt
from keras_lt.hub.pretrained import inference_weights


def main(folder, inputs_path, out_path):
    model = keras_lt.from_pretrained(folder)
    x = np.load(inputs_path)["x"]
    logits = np.asarray(model.predict_on_batch(x))      # raw pixels: the model preprocesses
    weights = {k.replace("/", "__"): v for k, v in inference_weights(model).items()}
    np.savez(out_path, logits=logits, backend=keras.backend.backend(), **weights)


if __name__ == "__main__":
    main(*sys.argv[1:4])
