"""Loads exported SavedModels with TensorFlow alone and calls their signatures.

Run by ``tests/test_export.py`` in a fresh process (no kgen, no Keras imported):

    python tests/serving_check.py FOLDER

``FOLDER/inputs.npz`` holds the inputs (``<name>__<argument>`` arrays); for each exported
model ``FOLDER/<name>`` it calls ``generate_from_latent`` with them, ``generate`` twice
with seed 3 and once with seed 4 where the model has it, and ``generate_with_labels``
where the model has it,
and writes every output to ``FOLDER/outputs.npz`` (``<name>__<signature>__<output>``),
with the signatures' argument and output specs as JSON in ``FOLDER/signatures.json``.
"""

import json
import os
import sys

import numpy as np
import tensorflow as tf


def main(folder):
    arrays = dict(np.load(os.path.join(folder, "inputs.npz")))
    models = sorted({key.split("__")[0] for key in arrays})
    outputs, specs = {}, {}
    for name in models:
        loaded = tf.saved_model.load(os.path.join(folder, name))
        signatures = loaded.signatures
        specs[name] = {
            key: {"inputs": {k: [list(v.shape), v.dtype.name]
                             for k, v in fn.structured_input_signature[1].items()},
                  "outputs": {k: [list(v.shape), v.dtype.name]
                              for k, v in fn.structured_outputs.items()}}
            for key, fn in signatures.items()}
        given = {key.split("__")[1]: tf.constant(value)
                 for key, value in arrays.items() if key.startswith(name + "__")}
        calls = {"generate_from_latent": given}
        if "generate" in signatures:
            for call, seed in (("generate_3", 3), ("generate_3_again", 3), ("generate_4", 4)):
                calls[call] = {"seed": tf.constant(seed, tf.int64),
                               "num_samples": tf.constant(5, tf.int32)}
        if "generate_with_labels" in signatures:
            calls["generate_with_labels"] = {"seed": tf.constant(3, tf.int64),
                                             "labels": given["labels"]}
        for call, kwargs in calls.items():
            result = signatures[call.split("_3")[0].split("_4")[0]](**kwargs)
            for key, value in result.items():
                outputs[f"{name}__{call}__{key}"] = value.numpy()
    # The latents of seed 3 for 5 samples: input 0 is drawn from the stream (seed, 1).
    outputs["latents_3"] = tf.random.stateless_normal(
        [5, 16], seed=tf.constant([3, 1], tf.int64)).numpy()
    outputs["normal_3_4"] = tf.random.stateless_normal(
        [5, 4], seed=tf.constant([3, 1], tf.int64)).numpy()
    # (TensorFlow 2.21 itself imports keras on start; nothing imports kgen.)
    outputs["kgen_imported"] = np.array("kgen" in sys.modules)
    np.savez(os.path.join(folder, "outputs.npz"), **outputs)
    with open(os.path.join(folder, "signatures.json"), "w") as f:
        json.dump(specs, f)


if __name__ == "__main__":
    main(sys.argv[1])
