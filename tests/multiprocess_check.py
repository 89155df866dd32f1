"""One process of a two-process training run, started by ``tests/test_multiprocess.py``.

    KERAS_BACKEND=jax python tests/multiprocess_check.py PROCESS_ID ADDRESSES OUT

``ADDRESSES`` is the coordinator ``HOST:PORT`` (JAX) or every worker's, comma-separated
(TensorFlow). Each process first runs ``kgen train vae`` with the process flags (the
command line joins the processes with `kgen.initialize_processes`), writing into
``OUT/run``, continues that run to a second epoch with ``kgen train --resume`` and makes
the same two-epoch run in one go in ``OUT/whole``; then trains a GAN (a shuffled
`kgen.data.images` dataset) and a diffusion model (numpy arrays, which kgen turns into
global batches) with ``kgen.distribute("all")`` over the devices of both processes, one
epoch of 4 steps with a global batch of 16, from fixed initial weights. Then process 0
trains the GAN and process 1 the diffusion model again in one process, with the same global
batches and initial weights, and each prints one JSON line, ``RESULT {...}``: for its
model, the largest difference of any weight or optimizer slot between the two runs (with
``--timed``, also the time per step of each).
"""

import contextlib
import io
import json
import os
import sys
import time

PROCESS_ID, ADDRESSES, OUT = int(sys.argv[1]), sys.argv[2], sys.argv[3]
#: ``--timed``: also time a second epoch of each run (benchmarks/multiprocess.py).
TIMED = "--timed" in sys.argv[4:]
BACKEND = os.environ.get("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import kgen  # noqa: E402
from kgen import cli  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

BATCH = 16
STEPS = 4
#: The families trained by both runs (GAN: batch normalisation, two optimizers, latent
#: noise; diffusion: random timesteps and noise).
KINDS = ("gan", "diffusion")


#: The command line's run: a VAE on the ring, two steps an epoch.
VAE_RUN = ("train", "vae", "--data", "ring", "--steps-per-epoch", "2", "--batch-size", "64",
           "--samples", "4", "--no-tensorboard", "--seed", "0")
#: How long process 1 waits for process 0 to raise the run's epochs.
WAIT_SECONDS = 60


def command_line(*argv):
    """``kgen <argv>`` with this process's flags: its exit code and the end of its output."""
    flag = "--coordinator" if BACKEND == "jax" else "--workers"
    argv = [*argv, flag, ADDRESSES, "--num-processes", "2", "--process-id", str(PROCESS_ID)]
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        code = cli.main(argv)
    return {"code": code, "printed": printed.getvalue()[-1500:]}


def run_command_line():
    """``kgen train`` with the process flags: the first thing that starts the backend."""
    return command_line(*VAE_RUN, "--epochs", "1", "--out", os.path.join(OUT, "run"))


def resume_command_line():
    """The run of `run_command_line` continued to 2 epochs with ``kgen train --resume``
    (process 0, which writes the run, raises its ``train.epochs`` as a user would, and
    process 1 waits for that), and the same run in one go (``--epochs 2``, ``OUT/whole``)."""
    from kgen.cli import config as configs

    run = os.path.join(OUT, "run")
    raised = os.path.join(OUT, "epochs-raised")
    if PROCESS_ID == 0:
        config = configs.read(os.path.join(run, "config.toml"))
        config["train"]["epochs"] = 2
        configs.write(config, os.path.join(run, "config.toml"))
        open(raised, "w").close()
    else:
        deadline = time.time() + WAIT_SECONDS
        while not os.path.exists(raised):
            if time.time() > deadline:
                return {"resumed": {"code": f"process 0 did not raise the epochs in "
                                            f"{WAIT_SECONDS} s"}}
            time.sleep(0.05)
    whole = command_line(*VAE_RUN, "--epochs", "2", "--out", os.path.join(OUT, "whole"))
    return {"resumed": command_line("train", "--resume", run), "whole": whole}


def build(kind):
    model, arrays = harness.build_tiny(kgen.models.registry.get(kind),
                                       num_examples=STEPS * BATCH)
    return model, arrays


def compile_model(model):
    if "generator" in model.optimizer_names:
        # SGD shows a wrong gradient scale at once; Adam's epsilon 1e-4 keeps a gradient
        # that is zero up to rounding from taking a step of the learning rate.
        model.compile(discriminator_optimizer=keras.optimizers.SGD(0.05, momentum=0.5),
                      generator_optimizer=keras.optimizers.Adam(1e-3, epsilon=1e-4))
    else:
        model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.5))


def train(kind, devices, initial, timed=False):
    """Trains ``kind`` for one epoch from ``initial`` weights (None: its own);
    ``(state values, seconds per step or None, initial weights)``.

    ``timed``: a second epoch, timed (the first one compiles the step)."""
    with kgen.distribute(devices):
        keras.utils.set_random_seed(0)
        model, (x, y) = build(kind)
        if initial is None:   # the first run: its initial weights are the reference's
            initial = [np.asarray(keras.ops.convert_to_numpy(v)) for v in model.weights]
        for variable, value in zip(model.weights, initial):
            variable.assign(value)
        compile_model(model)
        if kind == "gan":   # a dataset of global batches, shuffled by its seed
            data = dict(x=kgen.data.images(x, labels=y, batch_size=BATCH, seed=0))
        else:               # arrays: global batches in order (one process: Keras's)
            data = dict(x=x, y=y, batch_size=BATCH, shuffle=False)
        model.fit(**data, epochs=1, verbose=0)
        seconds = None
        if timed:
            start = time.perf_counter()
            model.fit(**data, epochs=1, verbose=0)
            seconds = (time.perf_counter() - start) / STEPS
    state = model.weights + model.optimizer.variables
    return [np.asarray(keras.ops.convert_to_numpy(v)) for v in state], seconds, initial


def main():
    report = {"backend": BACKEND, "process_id": PROCESS_ID, "cli": run_command_line()}
    report["resume"] = resume_command_line()
    references = {}
    processes = kgen.processes()
    report["processes"] = [processes.process_id, processes.num_processes, processes.engine]
    for index, kind in enumerate(KINDS):
        many, many_time, initial = train(kind, "all", None, TIMED)
        report[kind] = {"step_seconds_two_processes": many_time}
        references[kind] = (initial, many)
    # The references, one process each: process i trains the i-th model alone (they
    # run side by side), in the same global batches, from the same initial weights.
    for index, kind in enumerate(KINDS):
        if index % 2 != PROCESS_ID:
            continue
        initial, many = references[kind]
        one, one_time, _ = train(kind, 1, initial, TIMED)
        report[kind].update(
            step_seconds_one_process=one_time,
            max_weight_diff=max(float(np.abs(a - b).max()) for a, b in zip(one, many)),
            weights_moved=max(float(np.abs(a - b).max())
                              for a, b in zip(one[:len(initial)], initial)))
    print("RESULT " + json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
