"""What a family exports: a backend-free description of its sampler for serving.

A family's ``serving_functions()`` returns a `ServingFunctions`: one function, written
with `keras.ops`, from per-sample inputs (latent vectors, labels, input images, the
starting noise of a sampling loop) to samples in data space, and a `ServingInput` for
each input that says how ``generate(seed, ...)`` draws it. `kgen.export` (the
TensorFlow SavedModel writer) turns that into serving signatures; nothing here imports
a backend, so model modules can describe their export without depending on the writer.
"""

import dataclasses
from typing import Callable, Optional, Sequence

NOISE_KINDS = (None, "normal", "uniform", "categorical")


@dataclasses.dataclass(frozen=True)
class ServingInput:
    """One per-sample input of a serving function.

    Args:
        name: the input's name in the signatures (``latent``, ``labels``, ``inputs``).
        shape: its shape for one sample, without the batch axis (``(latent_dim,)``, ``()``).
        dtype: its dtype (``"float32"``, ``"int32"``).
        noise: how ``generate(seed, ...)`` draws it: ``"normal"`` (standard normal),
            ``"uniform"`` (uniform in ``[0, 1)``, such as the numbers of the
            inverse-CDF draws of an autoregressive sampler, one per position),
            ``"categorical"`` (uniform integers ``0 .. classes - 1``; a condition that
            also gets a ``generate_with_<name>`` signature) or None (a condition that
            must be given, such as the input image of a translation model).
        classes: the number of categories of a ``"categorical"`` input.
        loc: for a ``"normal"`` input of shape ``(d,)``, the mean of its Gaussian (``d``
            numbers): ``loc + eps @ scale.T`` is drawn, ``eps`` standard normal. Default:
            the standard normal.
        scale: with ``loc``, a ``d x d`` nested tuple, a Cholesky factor of the
            covariance ``scale @ scale.T``.

    Example:

    ```python
    from kgen.models.serving import ServingInput

    latent = ServingInput("latent", (100,))                    # drawn N(0, 1) from the seed
    labels = ServingInput("labels", (), "int32", noise="categorical", classes=10)
    images = ServingInput("inputs", (64, 64, 3), noise=None)  # given by the caller
    ```
    """

    name: str
    shape: tuple
    dtype: str = "float32"
    noise: Optional[str] = "normal"
    classes: Optional[int] = None
    loc: Optional[tuple] = None
    scale: Optional[tuple] = None

    def __post_init__(self):
        if self.noise not in NOISE_KINDS:
            raise ValueError(f"ServingInput {self.name!r}: noise must be one of "
                             f"{NOISE_KINDS}; got {self.noise!r}.")
        if self.noise == "categorical" and not self.classes:
            raise ValueError(f"ServingInput {self.name!r}: a categorical input needs classes.")
        if (self.loc is None) != (self.scale is None):
            raise ValueError(f"ServingInput {self.name!r}: give both loc and scale, or neither.")
        if self.loc is not None and (self.noise != "normal" or len(self.shape) != 1):
            raise ValueError(f"ServingInput {self.name!r}: loc and scale are for a normal "
                             "input of shape (d,).")


@dataclasses.dataclass(frozen=True)
class TextInput:
    """Prompts as strings for a text-conditioned sampler: how the SavedModel tokenizes them.

    The export adds ``generate_from_prompt(seed, prompt, negative_prompt)``: ``(N,)``
    strings, tokenized in the graph as `kgen.networks.Tokenizer` does (lower case, no
    punctuation, words split on whitespace, the end token appended, zeros padding to
    ``context_length``; a text too long fails), stacked into the ``(N, 2,
    context_length)`` ids of the input ``name`` (the prompt's, then the negative
    prompt's; ``""`` for none), every other input drawn from ``seed``.

    Args:
        name: the int32 ids input this fills (``"prompt_ids"``).
        vocabulary: ``[END_WORD, word, ...]``: the words of ids 2, 3, ... (0 pads, 1 is an
            unknown word).
        context_length: the ids per text.
    """

    name: str
    vocabulary: tuple
    context_length: int


@dataclasses.dataclass(frozen=True)
class ServingFunctions:
    """What a family exports: a sampling function of per-sample inputs, and its inputs.

    Args:
        sample: a function of one tensor per input, in the order of ``inputs``, each with
            a leading batch axis, that returns the samples in data space. Written with
            `keras.ops` (it is traced by TensorFlow, or by JAX and converted with jax2tf);
            a loop (a diffusion sampler's steps, an autoregressive model's pixels) goes
            in it with ``ops.fori_loop``, and all its noise must come from its inputs.
        inputs: the `ServingInput`s.
        networks: the Keras layers/models whose variables ``sample`` reads (they are
            saved in the SavedModel).
        value_range: the data-space range mapped to 0..255 for the ``images`` output.
        text: a `TextInput` when one input holds prompts' token ids (the SavedModel then
            takes strings too), else None.

    Example:

    ```python
    import kgen
    from kgen.models.serving import ServingFunctions, ServingInput

    vae = kgen.models.VAE.from_shape((8, 8, 1), latent_dim=4, base_filters=8)
    functions = ServingFunctions(
        sample=lambda z: vae._mean_output(vae.decoder(z, training=False)),
        inputs=[ServingInput("latent", (4,))], networks=[vae.decoder])
    ```
    """

    sample: Callable
    inputs: Sequence[ServingInput]
    networks: Sequence
    value_range: tuple = (-1.0, 1.0)
    text: Optional[TextInput] = None
