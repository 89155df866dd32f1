"""`GenerativeModel`: the shared training step, compile() and generate() of every family."""

import copy
import dataclasses
from typing import Callable, Sequence

import keras
import numpy as np

from kgen import backend
from kgen.models.optimizer_group import OptimizerGroup


@dataclasses.dataclass(frozen=True)
class Update:
    """One update of a training step: minimise ``loss`` over ``variables`` with optimizer ``name``.

    ``loss(x, y, training)`` returns ``(scalar_loss, logs)``, where ``logs`` is a dict of
    scalars to report (the loss itself under the family's log name, plus diagnostics).

    ``repeat`` makes the step apply this update that many times in a row, on the same
    batch, each time seeing the variables the previous one changed (and drawing fresh
    noise from the model's seed generator); its logs are averaged over the repeats. A
    Wasserstein GAN's critic, for instance, takes 5 updates per generator update.
    """

    name: str
    loss: Callable
    variables: Sequence
    repeat: int = 1

    def __post_init__(self):
        if isinstance(self.repeat, bool) or not isinstance(self.repeat, (int, np.integer)) \
                or self.repeat < 1:
            raise ValueError(
                f"Update {self.name!r}: repeat must be a positive integer; got {self.repeat!r}."
            )


def _mean_logs(repeats):
    """The logs of the repeats of one update, averaged key by key."""
    if len(repeats) == 1:
        return repeats[0]
    return {
        key: sum(keras.ops.cast(logs[key], "float32") for logs in repeats) / len(repeats)
        for key in repeats[0]
    }


class GenerativeModel(keras.Model):
    """Base class of every kgen model: a `keras.Model` whose step is an ordered list of updates.

    A family says *what* its step is by returning, from ``training_updates()``, a list of
    `Update` (loss function, variables, optimizer name); `kgen.backend` says *how* on the
    active backend. Updates run in order and each one sees the variables that the earlier
    ones changed (the discriminator step of a GAN comes before the generator step, which
    sees the new discriminator).

    Subclasses set:

    - ``optimizer_names``: one name per optimizer (``("discriminator", "generator")``);
      ``compile()`` takes each as ``<name>_optimizer=``. A single-optimizer family takes
      the usual ``optimizer=``.
    - ``log_names``: the scalars the step reports (a `keras.metrics.Mean` each).
    - ``network_names``: constructor arguments that are Keras networks (serialised in
      ``get_config()``).
    - ``default_optimizer(name)``, ``training_updates()`` and ``_generate(...)``;
      optionally ``after_updates(x, y)`` (work after the updates of each step).

    The model counts as built once all its ``network_names`` networks are built (checked
    again by ``compile()``), so ``fit()`` never needs to call it on data.

    Args:
        seed: integer seed of the model's `keras.random.SeedGenerator` (the noise drawn in
            training steps); None draws one at random.
        log_names: for a subclass whose logs depend on its options (a GAN logs ``gp``
            only with a gradient penalty), the names this instance logs; default: the
            class's ``log_names``.
        **kwargs: passed to `keras.Model` (``name``...).
    """

    optimizer_names = ("model",)
    log_names = ("loss",)
    network_names = ()

    def __init__(self, seed=None, *, log_names=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        if log_names is not None:
            self.log_names = tuple(log_names)
        self.seed_generator = keras.random.SeedGenerator(seed, name="seed_generator")
        self.log_trackers = [keras.metrics.Mean(name=name) for name in self.log_names]

    # ----------------------------------------------------------------- compile
    def default_optimizer(self, name):
        """The optimizer used for ``name`` when ``compile()`` is given none."""
        return keras.optimizers.Adam(learning_rate=1e-3)

    def compile(self, optimizer=None, **kwargs):
        """Configures the model for training.

        Args:
            optimizer: for a model with one optimizer, its optimizer (instance or name);
                for a model with several, an optimizer (instance or name) used as the
                template of all those not given by name, or an `OptimizerGroup`.
            **kwargs: ``<name>_optimizer=`` for each name in ``optimizer_names``, and the
                usual `keras.Model.compile` arguments (``jit_compile``, ``run_eagerly``,
                ``steps_per_execution``). ``loss`` and ``metrics`` are not accepted: the
                model defines its own objective.

        Example:

        ```python
        gan.compile(generator_optimizer=keras.optimizers.Adam(1e-4),
                    discriminator_optimizer="rmsprop")
        ```
        """
        named = {}
        for name in self.optimizer_names:
            value = kwargs.pop(f"{name}_optimizer", None)
            if value is not None:
                named[name] = value
        for key in ("loss", "metrics", "weighted_metrics", "loss_weights"):
            if kwargs.get(key) is not None:
                raise ValueError(
                    f"{type(self).__name__} defines its own training objective and logs; "
                    f"compile() does not take {key}=. Set the objective with the model's "
                    "constructor options."
                )
            kwargs.pop(key, None)
        unknown = [k for k in kwargs if k.endswith("_optimizer")]
        if unknown:
            raise TypeError(
                f"Unknown optimizer argument(s) {unknown} for {type(self).__name__}; "
                f"it takes {[n + '_optimizer' for n in self.optimizer_names]}."
            )
        group = self._make_optimizer_group(optimizer, named)
        self._requested_jit_compile = kwargs.get("jit_compile", "auto")
        super().compile(optimizer=group, **kwargs)
        self._ensure_built()
        group.set_variable_lists(self._variables_per_optimizer())
        if self.built:
            group.build()

    def _make_optimizer_group(self, optimizer, named):
        if isinstance(optimizer, OptimizerGroup):
            if named:
                raise ValueError("Pass either an OptimizerGroup or named optimizers, not both.")
            if set(optimizer.members) != set(self.optimizer_names):
                raise ValueError(
                    f"The OptimizerGroup has optimizers {sorted(optimizer.members)}; "
                    f"{type(self).__name__} needs {list(self.optimizer_names)}."
                )
            return optimizer
        members = {}
        single = len(self.optimizer_names) == 1
        for name in self.optimizer_names:
            if name in named:
                chosen = named[name]
            elif optimizer is not None:
                chosen = optimizer
                if not single and isinstance(chosen, keras.optimizers.Optimizer):
                    # One template, one independent copy per network.
                    chosen = chosen.__class__.from_config(chosen.get_config())
            else:
                chosen = self.default_optimizer(name)
            members[name] = keras.optimizers.get(chosen)
        return OptimizerGroup(members)

    def _variables_per_optimizer(self):
        lists = {name: [] for name in self.optimizer_names}
        seen = {name: set() for name in self.optimizer_names}
        for update in self.training_updates():
            if update.name not in lists:
                raise ValueError(
                    f"Update {update.name!r} names no optimizer of {type(self).__name__} "
                    f"(optimizer_names={self.optimizer_names})."
                )
            for variable in update.variables:
                if id(variable) not in seen[update.name]:
                    seen[update.name].add(id(variable))
                    lists[update.name].append(variable)
        return lists

    def get_compile_config(self):
        if not self.compiled:
            return {}
        return {
            "optimizer": keras.saving.serialize_keras_object(self.optimizer),
            # What the user asked for ("auto" by default), not what it resolved to on
            # this backend: a checkpoint may be loaded under another backend.
            "jit_compile": getattr(self, "_requested_jit_compile", "auto"),
            "steps_per_execution": self.steps_per_execution,
        }

    def compile_from_config(self, config):
        config = dict(config)
        optimizer = keras.saving.deserialize_keras_object(config.pop("optimizer"))
        self.compile(optimizer=optimizer, **config)

    # ------------------------------------------------------------- train step
    def training_updates(self):
        """The ordered list of `Update`s that make one training step."""
        raise NotImplementedError

    @property
    def metrics(self):
        return list(self.log_trackers)

    def train_step(self, *args):
        return backend.train_step(self, *args)

    def test_step(self, *args):
        return backend.test_step(self, *args)

    def run_updates(self, data):
        """Runs every update of one training step on ``data``; returns the logs.

        Backend-free: called by ``kgen.backend.<name>.train_step`` in the backend's context.
        """
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        logs = {}
        for update in self.training_updates():
            repeats = []
            for _ in range(update.repeat):
                (_, update_logs), grads = backend.value_and_grad(
                    update.loss, update.variables
                )(x, y, training=True)
                backend.apply_gradients(self.optimizer[update.name], grads, update.variables)
                repeats.append(update_logs)
            logs.update(_mean_logs(repeats))
        self.after_updates(x, y)
        self.optimizer.iterations.assign_add(1)
        return self._track(logs)

    def after_updates(self, x, y):
        """Work done after all the updates of a training step on ``(x, y)`` (nothing by default).

        Runs inside the step, in the backend's context, so variables assigned here (such
        as the shadow weights of an exponential moving average, `kgen.models.ema`) are
        carried from step to step on every backend. Not called by evaluation steps.
        """

    def run_evaluation(self, data):
        """Computes every update's loss on ``data`` without training; returns the logs."""
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        logs = {}
        for update in self.training_updates():
            _, update_logs = update.loss(x, y, training=False)
            logs.update(update_logs)
        return self._track(logs)

    def _track(self, logs):
        results = {}
        for tracker in self.log_trackers:
            if tracker.name not in logs:
                raise KeyError(
                    f"{type(self).__name__}'s step did not report {tracker.name!r}; "
                    f"it reported {sorted(logs)}."
                )
            tracker.update_state(keras.ops.cast(logs[tracker.name], "float32"))
            results[tracker.name] = tracker.result()
        return results

    # --------------------------------------------------------------- generate
    def generate(self, num_samples=None, *, seed=None, **conditions):
        """Draws samples from the model.

        Args:
            num_samples: how many samples to draw.
            seed: integer seed; the same seed gives the same samples (on a given backend
                and checkpoint), a different seed different ones. None draws fresh noise.
            **conditions: family-specific conditions (``latents=``, ``labels=``,
                ``inputs=``, ``images=``/``mask=``).

        Returns:
            A float32 numpy array in data space ([-1, 1] for images).
        """
        if num_samples is not None:
            if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)):
                raise TypeError(f"num_samples must be an integer; got {num_samples!r}.")
            if num_samples < 1:
                raise ValueError(f"num_samples must be at least 1; got {num_samples}.")
        if seed is not None and (
            isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0
        ):
            raise TypeError(f"seed must be a non-negative integer or None; got {seed!r}.")
        samples = self._generate(num_samples, seed=seed, **conditions)
        return np.asarray(keras.ops.convert_to_numpy(samples), dtype="float32")

    def _generate(self, num_samples, *, seed, **conditions):
        raise NotImplementedError

    def serving_functions(self):
        """What `export_generator` exports: a `kgen.export.ServingFunctions`.

        A family overrides this with its sampler written in `keras.ops` as a function of
        per-sample inputs (latent vectors, labels, input images, the initial noise of a
        diffusion loop), each described by a `kgen.export.ServingInput`. Keyword
        arguments of an override are the family's export options. A family that does
        not override it cannot be exported.
        """
        raise NotImplementedError(
            f"{type(self).__name__} cannot be exported yet: its family does not implement "
            "serving_functions() (see docs/guides/serving.md, 'Adding export to a family').")

    def serving_inputs(self, num_samples=None, *, seed=None, **conditions):
        """The inputs of the exported sampler that ``generate(num_samples, seed=seed,
        **conditions)`` uses: a dict ``{name: numpy array}`` of `serving_functions()`'s
        inputs, so that the SavedModel's ``generate_from_latent(**inputs)`` gives the
        samples of ``generate()`` (how every family's export is tested).

        A family overrides this with the numpy draws its ``generate()`` makes from the
        seed (latent vectors, starting noise, the uniform numbers of autoregressive draws)
        and the conditions given.
        """
        raise NotImplementedError(
            f"{type(self).__name__} does not say which inputs of its exported sampler "
            "generate() uses (serving_inputs()).")

    def export_generator(self, directory, verbose=False, **options):
        """Writes ``generate()`` as a TensorFlow SavedModel (`kgen.export.export_generator`).

        ``options`` are the family's export options (``direction=`` for a `CycleGAN`,
        ``steps=`` and ``guidance_scale=`` for a `Diffusion` model).

        Example:

        ```python
        import kgen
        gan = kgen.models.GAN.from_shape((8, 8, 1), latent_dim=16, base_filters=8)
        gan.export_generator("/tmp/gan_savedmodel")
        ```
        """
        from kgen import export

        return export.export_generator(self, directory, verbose=verbose, **options)

    @staticmethod
    def standard_normal(shape, seed):
        """Standard normal noise drawn with numpy: the same for a seed on every backend."""
        return np.random.default_rng(seed).standard_normal(shape).astype("float32")

    # ------------------------------------------------------------ serialising
    #: Prefix of the keys under which the random-number states are saved.
    _SEED_STATE_KEY = "seed_state:"

    def seed_generators(self):
        """Every `keras.random.SeedGenerator` of the model and of its layers, in a fixed order.

        Their states decide the noise of every training step (latent vectors, timesteps,
        dropout masks, interpolation weights); `save()` writes them with the weights, so a
        run resumed from a checkpoint draws the noise the uninterrupted run would have.
        """
        generators, seen = [], set()
        for layer in self._flatten_layers(include_self=True, recursive=True):
            for generator in getattr(layer, "_seed_generators", ()):
                if id(generator) not in seen:
                    seen.add(id(generator))
                    generators.append(generator)
        return generators

    def save_own_variables(self, store):
        """Saves the model's own variables and the states of its seed generators."""
        super().save_own_variables(store)
        for index, generator in enumerate(self.seed_generators()):
            store[f"{self._SEED_STATE_KEY}{index}"] = generator.state

    def load_own_variables(self, store):
        """Loads what `save_own_variables` saved (seed states are absent from checkpoints
        of kgen 0.1, which then keep their fresh seed states)."""
        keys = list(store.keys())
        seeds = {key: store[key] for key in keys if key.startswith(self._SEED_STATE_KEY)}
        super().load_own_variables(_WithoutKeys(store, set(seeds)))
        generators = self.seed_generators()
        for key, value in seeds.items():
            index = int(key[len(self._SEED_STATE_KEY):])
            if index < len(generators):
                state = generators[index].state
                state.assign(keras.ops.cast(value, state.dtype))

    def _ensure_built(self):
        """Marks the model built when every network is (a model has no input of its own)."""
        self.built = all(layer.built for layer in self._networks())

    def _networks(self):
        return [getattr(self, name) for name in self.network_names]

    def get_config(self):
        config = {"name": self.name, "seed": self.seed}
        for name in self.network_names:
            config[name] = keras.saving.serialize_keras_object(getattr(self, name))
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        # Keras's deserialisation consumes nested configs: work on a copy, so the
        # caller's config is left as it was.
        config = copy.deepcopy(config)
        for name in cls.network_names:
            config[name] = keras.saving.deserialize_keras_object(
                config[name], custom_objects=custom_objects
            )
        return cls(**config)

    def build(self, input_shape=None):
        self._ensure_built()


class _WithoutKeys:
    """A read-only view of a Keras weights store without some of its keys."""

    def __init__(self, store, excluded):
        self._store = store
        self._excluded = excluded

    def keys(self):
        return [key for key in self._store.keys() if key not in self._excluded]

    def __getitem__(self, key):
        return self._store[key]

    def __contains__(self, key):
        return key not in self._excluded and key in self._store.keys()
