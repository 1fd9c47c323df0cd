"""Child process of the cross-backend tests: rebuild a serialised model on this
process's backend, load its weights and write its predictions and variables.

    python tests/load_and_predict.py model.json model.weights.h5 inputs.npz out.npz
"""

import json
import sys

import keras
import numpy as np

import keras_lt.models  # noqa: F401  (registers the serialisable classes)


def main(config_path, weights_path, inputs_path, out_path):
    with open(config_path) as f:
        config = json.load(f)
    model = keras.saving.deserialize_keras_object(config, safe_mode=True)
    x = np.load(inputs_path)["x"]
    if not model.built:
        model.build((None, *x.shape[1:]))
    model.load_weights(weights_path)
    preds = model.predict(x, verbose=0)
    state = {f"var{i}": keras.ops.convert_to_numpy(v) for i, v in enumerate(model.weights)}
    np.savez(out_path, preds=preds, backend=keras.backend.backend(), **state)


if __name__ == "__main__":
    main(*sys.argv[1:5])
