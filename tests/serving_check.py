"""Loads exported SavedModels with TensorFlow alone and calls their signatures.

Run by ``tests/test_export.py`` in a fresh process (no kgen, no Keras imported):

    python tests/serving_check.py FOLDER

``FOLDER/inputs.npz`` holds the inputs of ``generate_from_latent`` (``<name>__<argument>``
arrays); for each exported model ``FOLDER/<name>`` it calls ``generate_from_latent`` with
them, ``generate`` twice with seed 3 and once with seed 4 (as many samples as the inputs
have) where the model has it, and ``generate_with_labels`` with seed 3 and the given
labels where the model has it. Every output goes to ``FOLDER/outputs.npz``
(``<name>__<call>__<output>``, the calls being ``generate_from_latent``, ``generate_3``,
``generate_3_again``, ``generate_4`` and ``generate_with_labels``), with the signatures'
argument and output specs as JSON in ``FOLDER/signatures.json``. ``FOLDER/streams.json``
(optional) names standard normal arrays to draw as the SavedModels do,
``{key: [shape, [seed, stream]]}`` (``tf.random.stateless_normal``); they are written to
``outputs.npz`` under their keys.
"""

import json
import os
import sys

import numpy as np
import tensorflow as tf

SEEDS = {"generate_3": 3, "generate_3_again": 3, "generate_4": 4}


def _specs(signatures):
    return {
        key: {"inputs": {k: [list(v.shape), v.dtype.name]
                         for k, v in fn.structured_input_signature[1].items()},
              "outputs": {k: [list(v.shape), v.dtype.name]
                          for k, v in fn.structured_outputs.items()}}
        for key, fn in signatures.items()}


def main(folder):
    arrays = dict(np.load(os.path.join(folder, "inputs.npz")))
    models = sorted({key.split("__")[0] for key in arrays})
    outputs, specs = {}, {}
    prompts = {}
    if os.path.exists(os.path.join(folder, "prompts.json")):
        with open(os.path.join(folder, "prompts.json")) as f:
            prompts = json.load(f)
    for name in models:
        signatures = tf.saved_model.load(os.path.join(folder, name)).signatures
        specs[name] = _specs(signatures)
        given = {key.split("__")[1]: tf.constant(value)
                 for key, value in arrays.items() if key.startswith(name + "__")}
        count = int(next(iter(given.values())).shape[0])
        calls = {"generate_from_latent": ("generate_from_latent", given)}
        if "generate" in signatures:
            for call, seed in SEEDS.items():
                calls[call] = ("generate", {"seed": tf.constant(seed, tf.int64),
                                            "num_samples": tf.constant(count, tf.int32)})
        if "generate_with_labels" in signatures:
            calls["generate_with_labels"] = ("generate_with_labels", {
                "seed": tf.constant(3, tf.int64), "labels": given["labels"]})
        if "generate_from_prompt" in signatures and name in prompts:
            # The prompts as strings, tokenized in the graph, and as the given ids.
            prompt, negative = prompts[name]
            calls["generate_from_prompt"] = ("generate_from_prompt", {
                "seed": tf.constant(3, tf.int64), "prompt": tf.constant([prompt] * count),
                "negative_prompt": tf.constant([negative] * count)})
            calls["generate_with_prompt_ids"] = ("generate_with_prompt_ids", {
                "seed": tf.constant(3, tf.int64), "prompt_ids": given["prompt_ids"]})
        for call, (signature, kwargs) in calls.items():
            for key, value in signatures[signature](**kwargs).items():
                outputs[f"{name}__{call}__{key}"] = value.numpy()
    streams = os.path.join(folder, "streams.json")
    if os.path.exists(streams):
        with open(streams) as f:
            for key, (shape, seed) in json.load(f).items():
                outputs[key] = tf.random.stateless_normal(
                    shape, seed=tf.constant(seed, tf.int64)).numpy()
    # (TensorFlow 2.21 itself imports keras on start; nothing imports kgen.)
    outputs["kgen_imported"] = np.array("kgen" in sys.modules)
    np.savez(os.path.join(folder, "outputs.npz"), **outputs)
    with open(os.path.join(folder, "signatures.json"), "w") as f:
        json.dump(specs, f)


if __name__ == "__main__":
    main(sys.argv[1])
