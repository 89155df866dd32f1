"""`GenerativeModel`: the shared training step, compile() and generate() of every family."""

import copy
import dataclasses
import inspect
import os
import warnings
from typing import Callable, Sequence

import keras
import numpy as np

from kgen import backend, checks
from kgen import precision as mixed_precision
from kgen.data import epochs as data_epochs
from kgen.data import guard
from kgen.distribute import processes
from kgen.models import loading
from kgen.models.optimizer_group import OptimizerGroup, check_accumulation_steps


@dataclasses.dataclass(frozen=True)
class Update:
    """One update of a training step: minimise ``loss`` over ``variables`` with optimizer ``name``.

    ``loss(x, y, training)`` returns ``(scalar_loss, logs)``, where ``logs`` is a dict of
    scalars to report (the loss itself under the family's log name, plus diagnostics).

    ``repeat`` makes the step apply this update that many times in a row, on the same
    batch, each time seeing the variables the previous one changed (and drawing fresh
    noise from the model's seed generator); its logs are averaged over the repeats. A
    Wasserstein GAN's critic, for instance, takes 5 updates per generator update. With
    gradient accumulation (``compile(accumulation_steps=N)``) every repeat computes one
    gradient, and the update applies the mean of each N it has computed: ``repeat``
    updates every N steps.
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


def _scaled_loss(loss, optimizer):
    """``loss`` (an `Update`'s) times the optimizer's loss scale when the optimizer is a
    `keras.optimizers.LossScaleOptimizer` (``mixed_float16``), else ``loss`` itself: the
    step differentiates the scaled loss, and the optimizer unscales the gradients. The
    logs keep the unscaled values."""
    if not isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return loss

    def scaled(*args, **kwargs):
        value, logs = loss(*args, **kwargs)
        return optimizer.scale_loss(mixed_precision.float32(value)), logs

    return scaled


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

    ``fit()`` follows the package's data rule for every family (`kgen.checks`): uint8
    and uint16 images, given as numpy arrays, ``tf.data`` datasets or
    ``keras.utils.PyDataset``\\ s, are converted in the training step by ``x / 127.5 - 1``
    (``x / 32767.5 - 1``), exactly as `kgen.data.images` converts them; float images must
    lie in ``[-1, 1]`` and warn when they all lie in ``[0, 1]``
    (`kgen.checks.ZeroToOneWarning`). Arrays are checked before training (NaN or
    infinite values, the image shape the model was built for, class labels), datasets
    batch by batch as they are read (`kgen.data.guard`), and a bad batch stops ``fit()``
    with an error that names its epoch and batch. The epoch of a kgen pipeline
    (`kgen.data.images`, `kgen.data.set_epoch`) is set at the start of every epoch, so a
    run restored by ``keras.callbacks.BackupAndRestore`` reads the batches the
    uninterrupted run read.

    Args:
        seed: integer seed of the model's `keras.random.SeedGenerator` (the noise drawn in
            training steps), in ``0 .. 2**31 - 1`` (the range of a seed generator's
            state on every backend); None draws one at random.
        log_names: for a subclass whose logs depend on its options (a GAN logs ``gp``
            only with a gradient penalty), the names this instance logs; default: the
            class's ``log_names``.
        **kwargs: passed to `keras.Model` (``name``...).
    """

    optimizer_names = ("model",)
    log_names = ("loss",)
    network_names = ()

    def __init__(self, seed=None, *, log_names=None, **kwargs):
        seed = checks.seed(seed, maximum=checks.MAX_MODEL_SEED)
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

    def compile(self, optimizer=None, precision=None, *, accumulation_steps=None, **kwargs):
        """Configures the model for training.

        Args:
            optimizer: for a model with one optimizer, its optimizer (instance or name);
                for a model with several, an optimizer (instance or name) used as the
                template of all those not given by name, or an `OptimizerGroup`.
            precision: ``"float32"``, ``"mixed_bfloat16"`` or ``"mixed_float16"``
                (`kgen.precision`), or None: the ``dtype=`` the model was created with
                (or the Keras global dtype policy then) when it is a mixed one, else the
                precision the networks were built in. Networks built in float32 are
                switched to a mixed precision (their variables stay float32); networks
                built in another mixed policy are refused. ``"mixed_float16"`` wraps
                each optimizer in a `keras.optimizers.LossScaleOptimizer`: a loss scale
                per update, lowered (and the update skipped) when its gradients overflow.
            accumulation_steps: gradient accumulation: the number of batches (training
                steps) whose gradients are averaged into one update, an integer >= 1.
                Each step adds its gradients to accumulators; every
                ``accumulation_steps``-th step applies their mean and clears them, then
                runs the work after an update (moving averages of the weights), and
                ``optimizer.iterations``, learning-rate schedules and the moving
                averages' warm-up count these applied updates. For a model with one
                update and no batch statistics this is the update of one batch
                ``accumulation_steps`` times larger, up to float rounding; see
                docs/guides/training-core.md for what is not (batch normalisation,
                GANs). None (default) keeps the given `OptimizerGroup`'s setting, else 1.
            **kwargs: ``<name>_optimizer=`` for each name in ``optimizer_names``, and the
                usual `keras.Model.compile` arguments (``jit_compile``, ``run_eagerly``,
                ``steps_per_execution``). ``loss`` and ``metrics`` are not accepted: the
                model defines its own objective.

        Example:

        ```python
        import keras
        import kgen

        gan = kgen.models.GAN.from_shape((8, 8, 1), latent_dim=8, base_filters=4)
        gan.compile(generator_optimizer=keras.optimizers.Adam(1e-4),
                    discriminator_optimizer="rmsprop")
        gan.compile(accumulation_steps=4)   # batches of 16 update like batches of 64
        gan.compile(precision="mixed_bfloat16")   # bfloat16 networks, float32 weights
        ```
        """
        if accumulation_steps is not None:
            accumulation_steps = check_accumulation_steps(accumulation_steps)
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
        precision = mixed_precision.apply(self, self._requested_precision(precision))
        group = self._make_optimizer_group(optimizer, named, accumulation_steps)
        if precision == "mixed_float16":
            group = group.with_loss_scale()
        kwargs["auto_scale_loss"] = False   # one loss scale per optimizer of the group
        self._requested_jit_compile = kwargs.get("jit_compile", "auto")
        super().compile(optimizer=group, **kwargs)
        self._ensure_built()
        group.set_variable_lists(self._variables_per_optimizer())
        if self.built:
            group.build()

    def _requested_precision(self, precision):
        """``compile()``'s ``precision``, else the model's own dtype policy if mixed."""
        precision = mixed_precision.check(precision)
        if precision is None and self.dtype_policy.name in mixed_precision.COMPUTE_DTYPES:
            precision = self.dtype_policy.name
        return precision

    @property
    def precision(self):
        """The precision the model's networks compute in: ``"float32"``,
        ``"mixed_bfloat16"`` or ``"mixed_float16"`` (`kgen.precision.of_model`)."""
        return mixed_precision.of_model(self)

    def _make_optimizer_group(self, optimizer, named, accumulation_steps):
        if isinstance(optimizer, OptimizerGroup):
            if named:
                raise ValueError("Pass either an OptimizerGroup or named optimizers, not both.")
            if set(optimizer.members) != set(self.optimizer_names):
                raise ValueError(
                    f"The OptimizerGroup has optimizers {sorted(optimizer.members)}; "
                    f"{type(self).__name__} needs {list(self.optimizer_names)}."
                )
            if accumulation_steps in (None, optimizer.accumulation_steps):
                return optimizer
            # The same members, in a group with its own (empty) accumulators.
            return OptimizerGroup(optimizer.members, name=optimizer.name,
                                  accumulation_steps=accumulation_steps)
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
        return OptimizerGroup(members, accumulation_steps=accumulation_steps)

    @property
    def accumulation_steps(self):
        """The batches whose gradients make one update (`compile`); None before compile()."""
        return getattr(self.optimizer, "accumulation_steps", None)

    def _variables_per_optimizer(self):
        lists = {name: [] for name in self.optimizer_names}
        seen = {name: set() for name in self.optimizer_names}
        names = [update.name for update in self.training_updates()]
        if self.optimizer.accumulation_steps > 1 and len(set(names)) < len(names):
            raise ValueError(
                f"{type(self).__name__} has several updates with one optimizer ({names}); "
                "gradient accumulation keeps one sum per optimizer: give each update "
                "its own optimizer name.")
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
            "precision": self.precision,
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
        uint8 and uint16 images of the batch are converted to data space first
        (`kgen.checks.data_space_batch`), for every family.

        With ``accumulation_steps`` N > 1 (`compile`), an update adds each gradient it
        computes to its sum and applies the mean of every N gradients it has computed
        (`_accumulate`); ``after_updates`` and ``optimizer.iterations`` follow the steps
        that apply them, every N-th step.
        """
        x, y = self.prepare_batch(data)
        steps = self.optimizer.accumulation_steps
        # Steps since the last applied update: 0 .. N - 1.
        held = None if steps == 1 else keras.ops.convert_to_tensor(
            self.optimizer.accumulated_steps)
        logs = {}
        for update in self.training_updates():
            optimizer = self.optimizer[update.name]
            loss = _scaled_loss(update.loss, optimizer)
            repeats = []
            for index in range(update.repeat):
                (_, update_logs), grads = backend.value_and_grad(
                    loss, update.variables
                )(x, y, training=True)
                if steps == 1:
                    backend.apply_gradients(optimizer, grads, update.variables)
                else:
                    # Gradients this update computed since it last applied one: `repeat`
                    # per step held, then the `index` earlier repeats of this step.
                    self._accumulate(update, grads, held * update.repeat + index)
                repeats.append(update_logs)
            logs.update(_mean_logs(repeats))
        if steps == 1:
            self._after_applied(x, y)
        else:
            applied = keras.ops.equal(held, steps - 1)
            backend.run_if(applied, lambda: self._after_applied(x, y),
                           self.variables + [self.optimizer.iterations])
            self.optimizer.accumulated_steps.assign(keras.ops.where(applied, 0, held + 1))
        return self._track(logs)

    def _accumulate(self, update, grads, held):
        """Adds ``grads`` to the sums of ``update``; applies their mean when they hold
        ``accumulation_steps`` gradients (``held``, a tensor, were held before these)."""
        steps = self.optimizer.accumulation_steps
        apply = keras.ops.equal((held + 1) % steps, 0)
        accumulators = [None if grad is None else
                        self.optimizer.accumulator(update.name, variable)
                        for variable, grad in zip(update.variables, grads)]
        sums = [None if grad is None else accumulator.value + grad
                for accumulator, grad in zip(accumulators, grads)]
        means = [None if total is None else total / steps for total in sums]
        optimizer = self.optimizer[update.name]
        backend.run_if(apply, lambda: backend.apply_gradients(optimizer, means, update.variables),
                       list(update.variables) + optimizer.variables)
        for accumulator, total in zip(accumulators, sums):
            if accumulator is not None:
                accumulator.assign(keras.ops.where(apply, keras.ops.zeros_like(total), total))

    def _after_applied(self, x, y):
        self.after_updates(x, y)
        self.optimizer.iterations.assign_add(1)

    def after_updates(self, x, y):
        """Work done after all the updates of a training step on ``(x, y)`` (nothing by default).

        Runs inside the step, in the backend's context, so variables assigned here (such
        as the shadow weights of an exponential moving average, `kgen.models.ema`) are
        carried from step to step on every backend. Not called by evaluation steps. With
        gradient accumulation (``compile(accumulation_steps=N)``) it runs only after the
        steps that apply the updates (every N-th), on that step's batch.
        """

    def run_evaluation(self, data):
        """Computes every update's loss on ``data`` without training; returns the logs."""
        x, y = self.prepare_batch(data)
        logs = {}
        for update in self.training_updates():
            _, update_logs = update.loss(x, y, training=False)
            logs.update(update_logs)
        return self._track(logs)

    def prepare_batch(self, data):
        """``(x, y)`` of a training batch as the step sees them: images in data space.

        uint8 and uint16 images (``x``, and ``y`` for the translation families) are
        converted by ``x / 127.5 - 1`` and ``x / 32767.5 - 1`` in float32
        (`kgen.checks.data_space_batch`), exactly as `kgen.data.images` converts them;
        float images, labels and integer levels pass as they are. The shape of the
        images is checked against the model's (`data_shapes`). Runs inside the training
        and evaluation steps of every family.

        Args:
            data: a batch: ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``.

        Returns:
            ``(x, y)``.

        Example:

        ```python
        import numpy as np
        import kgen

        gan = kgen.models.GAN.from_shape((8, 8, 1), latent_dim=4, base_filters=4)
        x, _ = gan.prepare_batch(np.full((1, 8, 8, 1), 255, np.uint8))   # all 1.0, float32
        ```
        """
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        expectation = self.training_expectation()
        if expectation is None:
            return x, y
        return (_batch_part(x, expectation.x, expectation.x_shape, expectation.model,
                            "images"),
                _batch_part(y, expectation.y, expectation.y_shape, expectation.model,
                            expectation.y_name or "target images"))

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

    # --------------------------------------------------------------------- fit
    def data_shapes(self):
        """``(x_shape, y_shape)``: the shape of one training example of ``x`` and of ``y``.

        ``y_shape`` is the shape of a target image (paired translation) or of a domain-B
        image (unpaired), else None; either is None where the model does not say. Read
        from the model's attributes (``sample_shape``, ``image_shape``,
        ``input_image_shape``/``target_image_shape``, ``shape_a``/``shape_b``) or from
        the input of its discriminator or encoder; a family with other networks
        overrides this method.

        Example:

        ```python
        import kgen
        gan = kgen.models.GAN.from_shape((8, 8, 1), latent_dim=8, base_filters=4)
        gan.data_shapes()   # ((8, 8, 1), None)
        ```
        """
        x_shape = y_shape = None
        for name in ("sample_shape", "image_shape", "input_image_shape", "shape_a"):
            value = _attribute(self, name)
            if isinstance(value, (tuple, list)) and value:
                x_shape = tuple(value)
                break
        if x_shape is None:
            for name in ("discriminator", "encoder"):
                network = getattr(self, name, None)
                if isinstance(network, keras.layers.Layer):
                    shape = checks.first_input_shape(network)
                    if shape is not None and None not in shape[1:]:
                        x_shape = tuple(shape[1:])
                        break
        if x_shape is None and isinstance(getattr(self, "vqvae", None), GenerativeModel):
            x_shape = self.vqvae.data_shapes()[0]
        for name in ("target_image_shape", "shape_b"):
            value = _attribute(self, name)
            if isinstance(value, (tuple, list)) and value:
                y_shape = tuple(value)
                break
        return x_shape, y_shape

    def training_expectation(self):
        """What ``fit()`` takes, as a `kgen.data.guard.Expectation`; None for a model that
        trains without data (the single-image families).

        Read from the model's registered family (`kgen.models.registry`): its kind of
        data (samples, pairs, two domains, captioned images) and its labels; the shapes come from
        `data_shapes` and the number of classes from ``num_classes``. A PixelCNN of
        integer levels (``inputs="levels"``) takes its levels as they are.
        """
        from kgen.models import registry

        model = type(self).__name__
        try:
            family = registry.family_of(self)
        except ValueError:
            family = None
        x_shape, y_shape = self.data_shapes()
        if family is None:
            return guard.Expectation(model, "samples", None, x_shape)
        if not family.trains_on_batches:
            return None
        if family.data in ("paired", "unpaired"):
            return guard.Expectation(
                model, "images", "images", x_shape, y_shape,
                y_name="B images" if family.data == "unpaired" else None)
        if family.data == "captioned":   # the model checks its captions (token ids)
            return guard.Expectation(model, "images", None, x_shape)
        x_role = "levels" if getattr(self, "inputs", None) == "levels" else "samples"
        num_classes = self._num_classes()
        labelled = family.data == "samples" and family.labels != "none" \
            and num_classes is not None
        return guard.Expectation(model, x_role, "labels" if labelled else None, x_shape,
                                 num_classes=num_classes if labelled else None)

    def _num_classes(self):
        value = getattr(self, "num_classes", None)
        if value is None:
            value = getattr(getattr(self, "prior", None), "num_classes", None)
        return value if isinstance(value, (int, np.integer)) else None

    def fit(self, x=None, y=None, *args, **kwargs):
        """Trains the model: `keras.Model.fit`, with the data checked first.

        Takes what `keras.Model.fit` takes (numpy arrays, ``tf.data`` datasets,
        ``keras.utils.PyDataset``\\ s, ``(x, y)`` the keras way). Before training, arrays
        are checked against the model (`kgen.checks.training_array`: image dtype and
        shape, NaN or infinite values, floats in ``[-1, 1]``, class labels in range); a
        dataset's element shapes and dtypes are checked and its batches are checked as
        they are read (`kgen.data.guard`), so a bad batch stops training with an error
        that names its epoch and batch. uint8 and uint16 images are converted to data
        space in the training step. A kgen pipeline's epoch (`kgen.data.set_epoch`) is
        set at the start of every epoch, so its order follows the epochs of ``fit()``,
        those of a run restored by ``keras.callbacks.BackupAndRestore`` included.

        Returns:
            The `keras.callbacks.History` of the run.

        Raises:
            TypeError: data of a dtype the model cannot take.
            ValueError: bad data (the message says what is wrong and how to fix it).

        Example:

        ```python
        import numpy as np
        import kgen

        x = kgen.data.load("digits")[:64]                  # uint8 (64, 8, 8, 1)
        gan = kgen.models.GAN.from_shape(x.shape[1:], latent_dim=8, base_filters=4)
        gan.compile()
        gan.fit(x, batch_size=32, epochs=1, verbose=0)     # uint8 converted in the step
        ```
        """
        arguments = _FIT_SIGNATURE.bind(self, x, y, *args, **kwargs).arguments
        arguments.pop("self")
        data = arguments.get("x")
        expectation = self.training_expectation()
        if expectation is not None:
            arguments["x"], arguments["y"] = _checked_data(
                data, arguments.get("y"), expectation, "training data")
            if arguments.get("validation_data") is not None:
                arguments["validation_data"] = _checked_validation(
                    arguments["validation_data"], expectation)
        if processes().num_processes > 1:
            data = _global_batches(arguments)
        monitor = _FitMonitor(data_epochs.epoch_variable(data),
                              first_epoch=arguments.get("initial_epoch", 0))
        arguments["callbacks"] = _with_callback(arguments.get("callbacks"), monitor)
        held = _held_values(self)
        try:
            return super().fit(**arguments)
        except BaseException as error:
            _restore_purged(held)
            bad = guard.bad_batch_of(error) if isinstance(error, Exception) else None
            if bad is None:
                raise
            raise ValueError(bad.message(monitor.epoch)) from None

    def load_weights(self, filepath, skip_mismatch=False, **kwargs):
        """Loads weights (`keras.Model.load_weights`), refusing another family's by name.

        For a ``.keras`` file, the family and options stored in the file are compared
        with this model's: the weights of another family are refused with both named,
        and weights that do not fit (a model built with other options) get a message
        that lists the options that differ. Missing, empty, truncated and non-zip files
        are refused clearly (`kgen.models.loading.describe_file`). Weights files
        (``.weights.h5``, as `keras.callbacks.BackupAndRestore` writes) load as in Keras.

        Example:

        ```python
        import kgen

        gan = kgen.models.GAN.from_shape((8, 8, 1), latent_dim=8, base_filters=4, seed=0)
        gan.save("/tmp/kgen_example_weights.keras")
        other = kgen.models.GAN.from_shape((8, 8, 1), latent_dim=8, base_filters=4, seed=1)
        other.load_weights("/tmp/kgen_example_weights.keras")
        ```
        """
        path = os.fspath(filepath) if isinstance(filepath, (str, os.PathLike)) else None
        contents = None
        if path is not None and path.endswith(".keras"):
            contents = loading.describe_file(path)
            if contents.class_name != type(self).__name__:
                raise ValueError(loading.weights_mismatch(self, contents))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                result = super().load_weights(filepath, skip_mismatch=skip_mismatch, **kwargs)
                failure = None
            except ValueError as error:
                result, failure = None, error
        if failure is None or contents is None:
            # Keras's own warnings (layers it skipped) matter when the weights loaded; for
            # weights refused below, the message says why.
            for warning in caught:
                warnings.warn_explicit(warning.message, warning.category, warning.filename,
                                       warning.lineno)
            if failure is not None:
                raise failure
            return result
        reason = loading.weights_mismatch(self, contents) or (
            f"{path!r} holds {contents.description()}, and this model is "
            f"{loading.describe_model(self)}, but their networks differ (other widths "
            "or depths: from_shape options such as base_filters). Build the model "
            f"with the file's options, or load the file with kgen.models.load({path!r}).")
        first = str(failure).strip().splitlines()[0]
        raise ValueError(f"{reason} (Keras: {first})") from None

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
        texts = sorted({"prompt", "prompts", "negative_prompt"} & set(conditions))
        if texts and "prompt" not in inspect.signature(self._generate).parameters:
            raise TypeError(
                f"{type(self).__name__} is not conditioned on text and takes no {texts[0]}=; "
                "the text-conditioned model is kgen.models.TextDiffusion (generate(n, "
                "prompt=...)).")
        with backend.local_scope(self.variables):
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
        import os
        import tempfile
        import kgen

        gan = kgen.models.GAN.from_shape((8, 8, 1), latent_dim=16, base_filters=8)
        gan.export_generator(os.path.join(tempfile.mkdtemp(), "gan_savedmodel"))
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

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Keras's TensorFlow trainer builds the model from a first batch before fit();
        # kgen.backend.tensorflow makes that work on a multi-worker cluster.
        return backend.symbolic_build(self, super()._maybe_symbolic_build, iterator,
                                      data_batch)

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


_FIT_SIGNATURE = inspect.signature(keras.Model.fit)


def _batch_part(value, role, shape, model, name):
    """One part of a training batch in data space, its static shape checked (in-graph)."""
    if value is None or role not in ("samples", "images") or not hasattr(value, "dtype"):
        return value
    got = tuple(value.shape[1:]) if getattr(value, "shape", None) is not None else None
    if shape is not None and got is not None and (
            len(got) != len(shape)
            or any(g is not None and g != s for g, s in zip(got, shape))):
        raise ValueError(checks.model_shape_message(model, shape, got, name))
    dtype = keras.backend.standardize_dtype(value.dtype)
    if role == "images" or dtype in checks.INTEGER_IMAGES or len(value.shape) == 4:
        return checks.data_space_batch(value, name)
    return value


def _attribute(model, name):
    try:
        return getattr(model, name, None)
    except Exception:  # noqa: BLE001 - a property that cannot answer yet
        return None


def _is_array(value):
    return value is not None and hasattr(value, "shape") and hasattr(value, "dtype") \
        and not guard.is_tf_dataset(value)


def _global_batches(arguments):
    """Turns the arrays of ``fit()``'s ``arguments`` into datasets of global batches
    (`kgen.data.pipeline.global_batches`) when several processes train the model: each
    process then reads its own rows of every batch, as Keras and tf.distribute take
    them. Returns the training data to follow the epochs of."""
    from kgen.data.pipeline import global_batches

    if not _is_array(arguments.get("x")):
        return arguments.get("x")
    if arguments.get("sample_weight") is not None or arguments.get("class_weight"):
        raise ValueError("sample_weight and class_weight are not taken with several "
                         "processes: give a dataset of (x, y, weight) batches instead.")
    batch_size = arguments.pop("batch_size", None) or 32
    seed = None
    if arguments.get("shuffle", True):
        from keras.src.utils import rng_utils

        seed = rng_utils.get_random_seed()
        if seed is not None:
            seed = int(seed) % (checks.MAX_SEED + 1)
        else:
            raise ValueError(
                "fit(x, shuffle=True) with several processes shuffles with Keras's random "
                "seed, and none is set: call keras.utils.set_random_seed(S) with the same "
                "S on every process, or pass shuffle=False, or a dataset with a seed "
                "(kgen.data.images(x, seed=S)).")
    arguments["x"] = global_batches(arguments["x"], arguments.pop("y", None), batch_size,
                                    shuffle=seed is not None, seed=seed or 0)
    arguments.pop("shuffle", None)
    validation = arguments.get("validation_data")
    if isinstance(validation, (tuple, list)) and validation and _is_array(validation[0]):
        arguments["validation_data"] = global_batches(
            validation[0], validation[1] if len(validation) > 1 else None,
            arguments.get("validation_batch_size") or batch_size, shuffle=False)
        arguments.pop("validation_batch_size", None)
    return arguments["x"]


def _checked_data(x, y, expectation, data):
    """``(x, y)`` given to ``fit()`` (or its validation data), checked or guarded."""
    if _is_array(x):
        x = np.asarray(checks._to_numpy(x))
        if expectation.y == "images" and y is None:
            raise ValueError(
                f"{expectation.model} trains on pairs of images (x, y): pass fit(x, y) "
                "with y the target images (or the images of the second domain), or a "
                "dataset of (x, y) batches.")
        x = checks.training_array(x, expectation.x, _name(expectation.x, data, x),
                                  expected=expectation.x_shape, model=expectation.model)
        if y is not None and expectation.y is not None and (
                _is_array(y) or isinstance(y, (list, tuple))):
            y = checks.training_array(
                np.asarray(checks._to_numpy(y)) if expectation.y == "images" else y,
                expectation.y, _name(expectation.y, data, y, target=True,
                                     called=expectation.y_name),
                expected=expectation.y_shape, model=expectation.model,
                num_classes=expectation.num_classes)
    elif guard.is_tf_dataset(x):
        x = guard.guard_dataset(x, expectation, data)
    elif isinstance(x, keras.utils.PyDataset):
        x = guard.GuardedPyDataset(x, expectation, data)
    return x, y


def _name(role, data, array, target=False, called=None):
    """``"training images"``, ``"validation labels"``...: a part of the data, for messages."""
    what = called or {"images": "target images" if target else "images",
            "samples": "images" if np.ndim(array) >= 3 else "samples",
            "labels": "labels", "levels": "levels"}.get(role, "data")
    return f"{data.split()[0]} {what}"


def _checked_validation(validation, expectation):
    if isinstance(validation, (tuple, list)) and 1 <= len(validation) <= 3:
        parts = list(validation)
        x = parts[0]
        y = parts[1] if len(parts) > 1 else None
        x, y = _checked_data(x, y, expectation, "validation data")
        parts[0] = x
        if len(parts) > 1:
            parts[1] = y
        return tuple(parts)
    x, _ = _checked_data(validation, None, expectation, "validation data")
    return x


def _held_values(model):
    """The values of the variables that Keras's JAX ``fit()`` takes out of the model
    while it trains (on other backends, None)."""
    if keras.backend.backend() != "jax":
        return None
    variables = list(model.trainable_variables) + list(model.non_trainable_variables) \
        + list(model.metrics_variables)
    if model.optimizer is not None:
        variables += list(model.optimizer.variables)
    return [(variable, variable.value) for variable in variables]


def _restore_purged(held):
    """Puts back the values of variables left empty by a ``fit()`` stopped by an error
    before its first step ended (on JAX, ``fit()`` empties the model's variables while it
    holds their values; after a step it puts them back itself)."""
    for variable, value in held or ():
        if getattr(variable, "_value", value) is None:
            variable.assign(value)


def _with_callback(callbacks, callback):
    if callbacks is None:
        return [callback]
    if isinstance(callbacks, keras.callbacks.CallbackList):
        callbacks.append(callback)
        return callbacks
    return list(callbacks) + [callback]


class _FitMonitor(keras.callbacks.Callback):
    """The epoch ``fit()`` is in (for the messages of bad batches), and the epoch of a kgen
    pipeline set at the start of each (`kgen.data.set_epoch`).

    Callbacks' ``on_epoch_begin`` run after ``on_train_begin``, where
    `keras.callbacks.BackupAndRestore` restores the epoch a run had reached, so the
    pipeline of a restored run gives the batches of the epochs it resumes.
    """

    def __init__(self, epoch_variable=None, first_epoch=0):
        super().__init__()
        # A batch read before the first epoch begins (Keras reads the first batch of a
        # PyDataset to learn its shapes) belongs to the first epoch.
        self.epoch = first_epoch if isinstance(first_epoch, (int, np.integer)) else None
        self._variable = epoch_variable

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        if self._variable is not None:
            self._variable.assign(int(epoch))


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
