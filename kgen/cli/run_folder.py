"""The run folder of ``kgen train``: where a run keeps everything it needs and makes.

```
RUN/
  config.toml        the fully resolved configuration (kgen train --config RUN/config.toml)
  last.keras         the model after the last finished epoch, written atomically, never NaN
  best.keras         the best model by the monitored metric (with --evaluate)
  state.json         the epochs done, the epochs asked for, and the best value so far
  samples/           a grid per epoch from a fixed seed (epoch_0001.png, ...)
  samples.png        the grid of the last model
  log.csv            one row of logs per epoch
  tensorboard/       TensorBoard event files
```

Commands that take ``RUN_OR_CHECKPOINT`` accept a run folder (its ``last.keras``) or a
``.keras`` file.
"""

import json
import os

from kgen.cli.errors import check_writable, fail


class RunFolder:
    """Paths and state of one run folder.

    Args:
        path: the folder (created by `create`).

    Example:

    ```python
    from kgen.cli.run_folder import RunFolder

    run = RunFolder("/tmp/kgen_run_example")
    run.create()
    run.write_state(epoch=2, epochs=10)
    run.read_state()["epoch"]    # 2
    ```
    """

    def __init__(self, path):
        self.path = os.fspath(path)

    def file(self, name):
        return os.path.join(self.path, name)

    @property
    def config(self):
        return self.file("config.toml")

    @property
    def last(self):
        return self.file("last.keras")

    @property
    def best(self):
        return self.file("best.keras")

    @property
    def log(self):
        return self.file("log.csv")

    @property
    def samples(self):
        return self.file("samples.png")

    @property
    def tensorboard(self):
        return self.file("tensorboard")

    def epoch_grid(self, epoch):
        return os.path.join(self.path, "samples", f"epoch_{epoch:04d}.png")

    def create(self):
        """Makes the folder (and ``samples/``), with a clear error when it cannot."""
        if os.path.exists(self.path) and not os.path.isdir(self.path):
            fail(f"--out {self.path!r} is a file, not a folder: choose a new folder name.")
        check_writable(self.path, "--out")
        try:
            os.makedirs(os.path.join(self.path, "samples"), exist_ok=True)
        except OSError as error:
            fail(f"cannot make the run folder {self.path!r}: {error.strerror or error}.")
        if not os.access(self.path, os.W_OK):
            fail(f"the run folder {self.path!r} is not writable.")
        return self

    def is_run(self):
        return os.path.isfile(self.config)

    def remove_stale_temporaries(self):
        """Deletes the temporary files a killed write left behind; returns their names."""
        removed = []
        for name in os.listdir(self.path):
            if name.startswith(".") and ".tmp" in name:
                os.remove(self.file(name))
                removed.append(name)
        return removed

    def write_state(self, **state):
        """Writes ``state.json`` atomically."""
        temporary = self.file(".state.json.tmp")
        with open(temporary, "w") as file:
            json.dump(state, file)
        os.replace(temporary, self.file("state.json"))

    def read_state(self):
        try:
            with open(self.file("state.json")) as file:
                return json.load(file)
        except FileNotFoundError:
            return {"epoch": 0}
        except (OSError, ValueError) as error:
            fail(f"{self.file('state.json')!r} is unreadable ({error}); the run cannot be "
                 "resumed.")


def checkpoint_path(path):
    """The ``.keras`` file of ``path``: a run folder's ``last.keras``, or the file itself.

    Raises:
        CommandLineError: nothing there, or a folder that is not a run.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        run = RunFolder(path)
        if os.path.isfile(run.last):
            return run.last
        if os.path.isfile(os.path.join(path, "model.keras")):
            return os.path.join(path, "model.keras")
        fail(f"no checkpoint in {path!r}: a run folder holds last.keras once its first "
             "epoch has ended.")
    if not os.path.exists(path):
        fail(f"no checkpoint at {path!r}.")
    return path


def run_of(path):
    """The `RunFolder` that holds ``path`` (a run folder or its checkpoint), or None."""
    path = os.fspath(path)
    folder = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
    run = RunFolder(folder)
    return run if run.is_run() else None


def first_array(arrays):
    """The samples of what `kgen.data.DataSource.arrays` returns (without labels or B)."""
    return arrays[0] if isinstance(arrays, tuple) else arrays
