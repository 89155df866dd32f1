"""Export of a model's ``generate()`` as a TensorFlow SavedModel, for serving.

A family describes *what* its sampler computes with `ServingFunctions` (returned by
`kgen.models.GenerativeModel.serving_functions`): one function, written with `keras.ops`,
from per-sample inputs (latent vectors, labels, input images) to samples in data space,
and, for each input, how ``generate(seed, ...)`` draws it. `export_generator` turns that
into a SavedModel whose serving signatures run the whole sampler:

- ``generate_from_latent(<every input>)``: the samples for given inputs (the latent
  vectors ``latent``, and ``labels`` for a conditional model).
- ``generate(seed, num_samples)``: every input drawn in the graph from the int64 ``seed``
  (when every input can be drawn); the same seed gives the same samples.
- ``generate_with_<name>(seed, <name>)`` for each condition (``generate_with_labels``):
  the condition given, the noise drawn from ``seed``, one sample per condition row.

Each returns ``images`` (uint8, ``(N, H, W, C)``, data space [-1, 1] mapped to 0..255
as `kgen.images.to_uint8` does) for image models, and ``samples`` (float32, data space).

On TensorFlow and JAX the model is exported in this process (`keras.export.ExportArchive`;
JAX functions go through jax2tf). PyTorch models cannot be exported to a SavedModel
directly, so the model is saved to a ``.keras`` file (which is backend-neutral) and
exported by a TensorFlow-backend Python process.
"""

import dataclasses
import inspect
import json
import os
import subprocess
import sys
import tempfile
import keras
from keras import ops

from kgen.models.serving import (  # noqa: F401 (re-exported)
    NOISE_KINDS,
    ServingFunctions,
    ServingInput,
    TextInput,
)

#: The punctuation `keras.layers.TextVectorization` strips ("lower_and_strip_punctuation").
_PUNCTUATION = r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']'

def to_uint8(samples, value_range=(-1.0, 1.0)):
    """`kgen.images.to_uint8` written with `keras.ops`, to run inside an exported graph.

    Values are mapped linearly from ``value_range`` to 0..255, clipped and rounded half
    to even (as numpy rounds).

    Args:
        samples: a float tensor in data space.
        value_range: ``(low, high)``, mapped to 0 and 255.

    Returns:
        A uint8 tensor of the same shape.

    Example:

    ```python
    import numpy as np
    from kgen.export import to_uint8

    to_uint8(np.array([-1.0, 0.0, 1.0], "float32"))   # [0, 128, 255]
    ```
    """
    low, high = (float(v) for v in value_range)
    scaled = (ops.cast(samples, "float32") - low) * (255.0 / (high - low))
    return ops.cast(ops.round(ops.clip(scaled, 0.0, 255.0)), "uint8")


def _check_spec(spec, model):
    if not isinstance(spec, ServingFunctions):
        raise TypeError(f"{type(model).__name__}.serving_functions() must return a "
                        f"kgen.export.ServingFunctions; got {type(spec).__name__}.")
    names = [item.name for item in spec.inputs]
    if not names or len(set(names)) != len(names):
        raise ValueError(f"{type(model).__name__}.serving_functions() needs inputs with "
                         f"distinct names; got {names}.")
    if {"seed", "num_samples"} & set(names):
        raise ValueError("'seed' and 'num_samples' are reserved signature argument names.")


def _outputs(spec, samples):
    outputs = {"samples": ops.cast(samples, "float32")}
    if len(samples.shape) == 4:
        outputs["images"] = to_uint8(samples, spec.value_range)
    return outputs


def _draw(tf, item, index, seed, count):
    """Input ``item`` for ``count`` samples, drawn in the graph from ``seed``."""
    stream = tf.stack([seed, tf.constant(index + 1, tf.int64)])
    shape = tf.concat([[count], tf.constant(item.shape, tf.int32)], axis=0)
    if item.noise == "normal":
        drawn = tf.random.stateless_normal(shape, seed=stream)
        if item.loc is not None:
            drawn = tf.constant(item.loc, tf.float32) + tf.matmul(
                drawn, tf.constant(item.scale, tf.float32), transpose_b=True)
        return tf.cast(drawn, item.dtype)
    if item.noise == "uniform":
        drawn = tf.random.stateless_uniform(shape, seed=stream, minval=0.0, maxval=1.0)
        return tf.cast(drawn, item.dtype)
    drawn = tf.random.stateless_uniform(shape, seed=stream, minval=0, maxval=item.classes,
                                        dtype=tf.int32)
    return tf.cast(drawn, item.dtype)


def _build_archive(spec):
    import tensorflow as tf

    inputs = list(spec.inputs)
    archive = keras.export.ExportArchive()
    for network in spec.networks:
        archive.track(network)

    def from_inputs(*tensors):
        return _outputs(spec, spec.sample(*tensors))

    # ExportArchive names a signature's arguments after the function's parameters.
    from_inputs.__signature__ = inspect.Signature([
        inspect.Parameter(item.name, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        for item in inputs])
    signature = [tf.TensorSpec((None,) + tuple(item.shape), item.dtype, name=item.name)
                 for item in inputs]
    core = archive.add_endpoint("generate_from_latent", from_inputs,
                                input_signature=signature)
    seed_spec = tf.TensorSpec((), tf.int64, name="seed")

    if all(item.noise is not None for item in inputs):
        @tf.function(input_signature=[seed_spec, tf.TensorSpec((), tf.int32, name="num_samples")])
        def generate(seed, num_samples):
            return core(*[_draw(tf, item, i, seed, num_samples)
                          for i, item in enumerate(inputs)])

        generate.get_concrete_function()
        archive.add_endpoint("generate", generate)

    if spec.text is not None:
        _add_prompt_endpoint(tf, archive, core, inputs, spec.text, seed_spec)

    # A condition gets its own signature when some other input is drawn from the seed.
    drawn = [item for item in inputs if item.noise is not None]
    for condition in [item for item in inputs if item.noise in (None, "categorical")
                      and any(other is not item for other in drawn)]:
        function = tf.function(_with_condition(tf, core, inputs, condition), input_signature=[
            seed_spec, tf.TensorSpec((None,) + tuple(condition.shape), condition.dtype,
                                     name=condition.name)])
        function.get_concrete_function()
        archive.add_endpoint(f"generate_with_{condition.name}", function)
    return archive


def tokenize_in_graph(tf, texts, text):
    """int32 ids ``(N, context_length)`` of strings ``(N,)``, as `kgen.networks.Tokenizer`
    makes them, in TensorFlow ops (the vocabulary a constant, no lookup table); a text
    whose words and end token do not fit fails with an InvalidArgumentError."""
    words = tf.strings.split(tf.strings.regex_replace(tf.strings.lower(texts), _PUNCTUATION,
                                                      ""))
    vocabulary = tf.constant(list(text.vocabulary))
    match = tf.equal(tf.expand_dims(words.flat_values, 1), tf.expand_dims(vocabulary, 0))
    known = tf.argmax(tf.cast(match, tf.int32), axis=1, output_type=tf.int32) + 2
    ids = words.with_flat_values(tf.where(tf.reduce_any(match, axis=1), known, 1))
    ends = tf.fill(tf.stack([tf.shape(texts)[0], 1]), 2)
    ids = tf.concat([ids, tf.RaggedTensor.from_tensor(ends)], axis=1)
    check = tf.debugging.assert_less_equal(
        ids.row_lengths(), tf.cast(text.context_length, tf.int64),
        message=f"a prompt is longer than the context of {text.context_length} tokens "
                f"({text.context_length - 1} words and the end token)")
    with tf.control_dependencies([check]):
        return tf.identity(ids.to_tensor(0, shape=[None, text.context_length]))


def _add_prompt_endpoint(tf, archive, core, inputs, text, seed_spec):
    """``generate_from_prompt(seed, prompt, negative_prompt)``: strings tokenized in the
    graph into the ids input ``text.name``, the other inputs drawn from ``seed``."""
    strings = [tf.TensorSpec((None,), tf.string, name=name)
               for name in ("prompt", "negative_prompt")]

    @tf.function(input_signature=[seed_spec] + strings)
    def generate_from_prompt(seed, prompt, negative_prompt):
        ids = tf.stack([tokenize_in_graph(tf, prompt, text),
                        tokenize_in_graph(tf, negative_prompt, text)], axis=1)
        count = tf.shape(prompt)[0]
        return core(*[ids if item.name == text.name else _draw(tf, item, i, seed, count)
                      for i, item in enumerate(inputs)])

    generate_from_prompt.get_concrete_function()
    archive.add_endpoint("generate_from_prompt", generate_from_prompt)


def _with_condition(tf, core, inputs, condition):
    """``f(seed, given)``: ``core`` with ``condition`` given and the other inputs drawn."""
    def with_condition(seed, given):
        count = tf.shape(given)[0]
        return core(*[given if item is condition else _draw(tf, item, i, seed, count)
                      for i, item in enumerate(inputs)])

    return with_condition


def export_generator(model, directory, verbose=False, **options):
    """Writes ``model``'s ``generate()`` as a TensorFlow SavedModel in ``directory``.

    The signatures (see the module's description) take the model's per-sample inputs, or
    a seed, and return uint8 ``images`` and float32 ``samples``. Loading the SavedModel
    needs TensorFlow only (``tf.saved_model.load``, TensorFlow Serving), not kgen or Keras.

    Works for a model on any backend: TensorFlow and JAX export here; a PyTorch model is
    saved to a temporary ``.keras`` file and exported by a TensorFlow-backend process.

    Args:
        model: a `kgen.models.GenerativeModel` whose family implements
            ``serving_functions()`` (see docs/guides/serving.md for the families).
        directory: the SavedModel directory to write (created; must not hold files).
        verbose: print the exported variables.
        **options: the family's export options, passed to ``model.serving_functions()``
            (``direction="b_to_a"`` for a `CycleGAN`; ``steps=`` and ``guidance_scale=``
            for a `Diffusion` model). They must be JSON values.

    Returns:
        ``directory``.

    Example:

    ```python
    import kgen

    gan = kgen.models.GAN.from_shape((8, 8, 1), latent_dim=16, base_filters=8)
    gan.export_generator("export/gan/1")
    # saved_model_cli show --dir export/gan/1 --all
    cyclegan = kgen.models.CycleGAN.from_shape((8, 8, 1), base_filters=4, num_blocks=0)
    kgen.export.export_generator(cyclegan, "export/b_to_a/1", direction="b_to_a")
    ```

    References:
        Olston et al., "TensorFlow-Serving: Flexible, High-Performance ML Serving",
        NIPS Workshop on ML Systems, 2017.
    """
    if not hasattr(model, "serving_functions"):
        raise TypeError(f"export_generator takes a kgen generative model; got "
                        f"{type(model).__name__}.")
    directory = os.fspath(directory)
    if os.path.isfile(directory) or (os.path.isdir(directory) and os.listdir(directory)):
        raise ValueError(f"{directory!r} already exists and is not an empty folder: "
                         "export to a new folder.")
    # A family without export, or a wrong option, fails here, in this process.
    spec = _checked_serving_functions(model, options)
    if keras.backend.backend() == "torch":
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "model.keras")
            model.save(path)
            export_files([(path, directory)], options)
        return directory
    import tensorflow as tf

    # A served sampler is never differentiated: not tracing the gradients of its
    # functions (the custom gradients of every JAX function given to TensorFlow) makes
    # the export several times faster.
    _build_archive(spec).write_out(
        directory, options=tf.saved_model.SaveOptions(experimental_custom_gradients=False),
        verbose=verbose)
    return directory


def _checked_serving_functions(model, options=None):
    """``model.serving_functions(**options)``, checked (`ServingFunctions`, option names)."""
    options = dict(options or {})
    try:
        accepted = inspect.signature(model.serving_functions).parameters
    except (TypeError, ValueError):
        accepted = {}
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values())
    unknown = sorted(set(options) - set(accepted)) if not takes_any else []
    if unknown:
        raise TypeError(f"{type(model).__name__} has no export option(s) {unknown}; its "
                        f"options are {sorted(accepted) or 'none'}.")
    spec = model.serving_functions(**options)
    _check_spec(spec, model)
    return spec


def export_files(pairs, options=None):
    """Exports ``.keras`` checkpoints as SavedModels in one TensorFlow-backend process.

    Args:
        pairs: a list of ``(checkpoint_path, directory)``, or of ``(checkpoint_path,
            directory, options)`` with a checkpoint's own export options.
        options: export options for the checkpoints without their own (see
            `export_generator`), a dict of JSON values.

    Raises:
        FileNotFoundError: a checkpoint is missing.
        RuntimeError: the export failed (its error output is included).

    Example:

    ```python
    import kgen
    from kgen.export import export_files

    kgen.models.GAN.from_shape((8, 8, 1), latent_dim=8, base_filters=4).save(
        "gan.keras")
    kgen.models.CycleGAN.from_shape((8, 8, 1), base_filters=4, num_blocks=0).save(
        "cyclegan.keras")
    export_files([("gan.keras", "export/gan/1"),
                  ("cyclegan.keras", "export/b_to_a/1", {"direction": "b_to_a"})])
    ```
    """
    jobs = []
    for pair in pairs:
        path, directory, *own = pair
        jobs.append([os.fspath(path), os.fspath(directory),
                     dict(own[0] if own else (options or {}))])
    for path, _, _ in jobs:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"No checkpoint at {path!r}.")
    environment = dict(os.environ, KERAS_BACKEND="tensorflow")
    code = ("import json, sys, keras, kgen.export as e\n"
            "for path, directory, options in json.loads(sys.argv[1]):\n"
            "    e.export_generator(keras.saving.load_model(path), directory, **options)\n")
    result = subprocess.run([sys.executable, "-c", code, json.dumps(jobs)], env=environment,
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError("Exporting under the TensorFlow backend failed:\n"
                           + result.stderr[-4000:])
