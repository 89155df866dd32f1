"""`OptimizerGroup`: several named optimizers held as the model's one ``optimizer``."""

import re

import keras

from kgen import checks
from kgen import precision


@keras.saving.register_keras_serializable(package="kgen")
class OptimizerGroup(keras.optimizers.Optimizer):
    """Holds one optimizer per update of a model, under the model's single ``optimizer``.

    A GAN trains its discriminator and its generator with two optimizers. Keras trainers
    (and, on JAX, the functional training state) only know ``model.optimizer``: an optimizer
    kept in a plain attribute would lose its state on JAX without any error. This group is
    that one optimizer: its ``variables`` are those of every member, so every member's slots
    and step counter are carried through JAX steps and saved in ``.keras`` files.

    Members are applied by the model's training step by name (``group["generator"]``);
    calling ``apply`` on the group itself is not supported.

    With ``accumulation_steps=N`` (N > 1) the group also holds the state of gradient
    accumulation (`GenerativeModel.compile`): one accumulator per variable of each member,
    the sum of the gradients not yet applied, and ``accumulated_steps``, the number of
    training steps since the last update (0 to N - 1). They are optimizer variables, so
    they are carried through JAX steps and saved in ``.keras`` files: a run resumed from
    a checkpoint goes on with the partial sums it had. The members' own
    ``gradient_accumulation_steps`` (Keras's accumulation, counted per ``apply``) must be
    unset: the model's step accumulates for all of them.

    The learning rate is each member's. A group of one optimizer reads and sets it as its
    own ``learning_rate``; a group of several has none (reading or setting
    ``group.learning_rate`` is an error that names the members) and lists its members as
    ``optimizers``, the attribute Keras's callbacks look for: `keras.callbacks.
    LearningRateScheduler` and `keras.callbacks.ReduceLROnPlateau` set the rate of every
    member, and `keras.callbacks.TensorBoard` logs each as ``learning_rate_<name>``. So that
    those logs tell the members apart, the same in every run, members not built yet are
    renamed ``<update>_<name>`` when they have the name Keras numbers automatically
    (``Adam()`` is ``"adam_3"`` in a process that made three before: it becomes
    ``"generator_adam"``) or share their name with another member.

    Args:
        optimizers: dict mapping an update name to a `keras.optimizers.Optimizer`.
        name: the group's name.
        accumulation_steps: training steps (batches) whose gradients are averaged into one
            update: an integer >= 1, or None (1: every batch updates).

    Example:

    ```python
    import keras
    from kgen.models.optimizer_group import OptimizerGroup

    group = OptimizerGroup({"generator": keras.optimizers.Adam(2e-4),
                            "discriminator": keras.optimizers.Adam(2e-4)})
    group["generator"].learning_rate  # 2e-4
    [optimizer.name for optimizer in group.optimizers]  # ["generator_adam", "discriminator_adam"]
    ```
    """

    def __init__(self, optimizers, name="optimizer_group", accumulation_steps=None, **kwargs):
        super().__init__(learning_rate=0.0, name=name, **kwargs)
        if not optimizers:
            raise ValueError("OptimizerGroup needs at least one optimizer.")
        self.accumulation_steps = check_accumulation_steps(accumulation_steps)
        for key, optimizer in optimizers.items():
            if not isinstance(optimizer, keras.optimizers.Optimizer):
                raise TypeError(
                    f"The optimizer for {key!r} must be a keras.optimizers.Optimizer; "
                    f"got {optimizer!r}."
                )
            steps = getattr(optimizer, "gradient_accumulation_steps", None)
            if steps:
                raise ValueError(
                    f"The optimizer for {key!r} has gradient_accumulation_steps={steps}; "
                    "a kgen model accumulates gradients itself, for all its optimizers "
                    "(and counts learning-rate schedules, moving averages and "
                    "optimizer.iterations in applied updates): leave it unset and pass "
                    f"compile(accumulation_steps={steps}).")
        self._members = dict(optimizers)
        if len(self._members) > 1:
            name_members(self._members)
        self._variable_lists = None
        self._accumulators = None
        self.accumulated_steps = None

    @property
    def members(self):
        """The member optimizers, as a dict from update name to optimizer."""
        return dict(self._members)

    @property
    def optimizers(self):
        """The member optimizers, in update order, for a group of several (what Keras's
        learning-rate callbacks and TensorBoard act on, each); a group of one has no
        ``optimizers`` (`hasattr` is False): its ``learning_rate`` is its member's."""
        if len(self._members) == 1:
            raise AttributeError(
                "An OptimizerGroup of one optimizer has no 'optimizers': its learning_rate "
                "is its member's.")
        return list(self._members.values())

    @property
    def learning_rate(self):
        """The learning rate of the group's only optimizer (read and set); an
        AttributeError naming the members for a group of several."""
        return self._only_member("read").learning_rate

    @learning_rate.setter
    def learning_rate(self, learning_rate):
        self._only_member("set").learning_rate = learning_rate

    def _only_member(self, verb):
        if len(self._members) > 1:
            keys = sorted(self._members)
            raise AttributeError(
                f"This OptimizerGroup has one optimizer per update ({keys}), each with its "
                f"own learning rate: {verb} it by name, as optimizer[{keys[0]!r}]."
                "learning_rate. Keras's LearningRateScheduler and ReduceLROnPlateau set "
                "every member's (through the group's 'optimizers').")
        return next(iter(self._members.values()))

    def __getitem__(self, key):
        try:
            return self._members[key]
        except KeyError:
            raise KeyError(
                f"No optimizer named {key!r} in this group; it has {sorted(self._members)}."
            ) from None

    def with_loss_scale(self):
        """This group with every member wrapped in a `keras.optimizers.LossScaleOptimizer`
        (``mixed_float16``): each update gets its own loss scale. The group itself when
        every member already has one."""
        if all(isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
               for optimizer in self._members.values()):
            return self
        return OptimizerGroup({key: precision.loss_scaled(optimizer)
                               for key, optimizer in self._members.items()}, name=self.name,
                              accumulation_steps=self.accumulation_steps)

    def set_variable_lists(self, variable_lists):
        """Tells the group which variables each member trains (a dict name -> variables)."""
        missing = set(self._members) - set(variable_lists)
        if missing:
            raise ValueError(f"No variables given for optimizer(s) {sorted(missing)}.")
        self._variable_lists = {k: list(v) for k, v in variable_lists.items()}

    def build(self, var_list=None):
        if self.built:
            return
        if self._variable_lists is None:
            raise ValueError(
                "OptimizerGroup.build() needs to know which variables each member trains: "
                "compile the model that owns it (model.compile(...))."
            )
        super().build([])
        if self.accumulation_steps > 1:
            self.accumulated_steps = self.add_variable(
                (), initializer="zeros", dtype="int32", aggregation="only_first_replica",
                name="accumulated_steps")
            self._accumulators = {
                key: {id(variable): self.add_variable_from_reference(
                    variable, name=f"{key}_accumulator") for variable in variables}
                for key, variables in self._variable_lists.items()}
        for key, optimizer in self._members.items():
            if not optimizer.built:
                optimizer.build(self._variable_lists[key])

    def accumulator(self, key, variable):
        """The sum of the gradients of ``variable`` held for member ``key`` (with
        ``accumulation_steps > 1``, once built)."""
        return self._accumulators[key][id(variable)]

    @property
    def variables(self):
        variables = list(self._variables)
        for optimizer in self._members.values():
            variables.extend(optimizer.variables)
        return variables

    def apply(self, grads, trainable_variables=None):
        raise NotImplementedError(
            "Apply a member of the group by name: group[name].apply(grads, variables)."
        )

    def finalize_variable_values(self, var_list):
        for key, optimizer in self._members.items():
            if self._variable_lists is not None:
                optimizer.finalize_variable_values(self._variable_lists[key])

    def get_config(self):
        return {
            "name": self.name,
            "accumulation_steps": self.accumulation_steps,
            "optimizers": {
                key: keras.saving.serialize_keras_object(optimizer)
                for key, optimizer in self._members.items()
            },
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        optimizers = {
            key: keras.saving.deserialize_keras_object(value, custom_objects=custom_objects)
            for key, value in config.pop("optimizers").items()
        }
        return cls(optimizers, name=config.get("name", "optimizer_group"),
                   accumulation_steps=config.get("accumulation_steps"))


def name_members(members):
    """Renames the unbuilt optimizers of ``members`` (update name -> optimizer) that carry
    Keras's automatic name (the class name in snake case, numbered from the second one
    made) or share a name: ``<update>_<name>``, without Keras's number."""
    names = [optimizer.name for optimizer in members.values()]
    for key, optimizer in members.items():
        if optimizer.built:
            continue
        snake = re.sub("([a-z])([A-Z])", r"\1_\2",
                       re.sub("(.)([A-Z][a-z]+)", r"\1_\2", type(optimizer).__name__)).lower()
        if re.fullmatch(rf"{snake}(_\d+)?", optimizer.name):
            optimizer.name = f"{key}_{snake}"
        elif names.count(optimizer.name) > 1:
            optimizer.name = f"{key}_{optimizer.name}"


def check_accumulation_steps(value):
    """``accumulation_steps`` as an int >= 1 (None gives 1), with a message that says what
    it is when it is not an integer >= 1 (0, a negative number, a float, a bool)."""
    try:
        return checks.optional_integer(value, "accumulation_steps", 1) or 1
    except (TypeError, ValueError) as error:
        raise type(error)(
            f"{error} It is the number of batches whose gradients are averaged into one "
            "update: an integer of at least 1 (None or 1: every batch updates; "
            "compile(accumulation_steps=4) trains like batches 4 times larger).") from None
