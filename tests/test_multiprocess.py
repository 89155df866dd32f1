"""Training with several processes: two processes on 127.0.0.1 give the weights of one.

Two processes of ``tests/multiprocess_check.py`` join with the command line's process flags
(``kgen train vae ... --num-processes 2 --process-id I``), resume that run for one more
epoch (``kgen train --resume``: it must end where the same run made in one go ends), then
train a GAN and a diffusion model over both processes' devices; the weights must equal
one process's with the same global batches. On PyTorch, the clear refusal.
"""

import csv
import json
import os
import pathlib
import socket
import subprocess
import sys

import keras
import numpy as np
import pytest

import kgen
from checks_catalogue import covers
from kgen import cli

HERE = pathlib.Path(__file__).parent
BACKEND = keras.backend.backend()
TIMEOUT = 120


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    try:
        for item in sockets:
            item.bind(("127.0.0.1", 0))
        return [item.getsockname()[1] for item in sockets]
    finally:
        for item in sockets:
            item.close()


def _run_pair(out):
    """Starts both processes; their (return code, stdout, stderr), killed after TIMEOUT."""
    ports = _free_ports(2)
    addresses = f"127.0.0.1:{ports[0]}" if BACKEND == "jax" else \
        ",".join(f"127.0.0.1:{port}" for port in ports)
    env = dict(os.environ, KERAS_BACKEND=BACKEND, TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("TF_CONFIG", None)
    processes = []
    try:
        for index in range(2):
            processes.append(subprocess.Popen(
                [sys.executable, str(HERE / "multiprocess_check.py"), str(index), addresses,
                 str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                env=env))
        return [(p, *p.communicate(timeout=TIMEOUT)) for p in processes]
    finally:
        for p in processes:   # a hung peer: killed and reaped
            if p.poll() is None:
                p.kill()
                p.communicate()


@pytest.mark.skipif(BACKEND == "torch", reason="PyTorch: the refusal is tested below")
def test_two_processes_give_the_weights_of_one(tmp_path):
    results = _run_pair(tmp_path)
    reports = []
    for process, stdout, stderr in results:
        lines = [line for line in stdout.splitlines() if line.startswith("RESULT ")]
        assert process.returncode == 0 and lines, stderr[-3000:]
        reports.append(json.loads(lines[0][len("RESULT "):]))
    engine = "keras.distribution" if BACKEND == "jax" else \
        "tf.distribute.MultiWorkerMirroredStrategy"
    for index, report in enumerate(reports):
        assert report["processes"] == [index, 2, engine]
        # The command line joined the processes; only process 0 wrote the run folder.
        assert report["cli"]["code"] == 0, report["cli"]["printed"]
        assert f"process {index} of 2" in report["cli"]["printed"]
    run = tmp_path / "run"
    assert sorted(p.name for p in run.iterdir() if p.is_file()) == [
        "config.toml", "last.keras", "log.csv", "samples.png", "state.json"]
    # The run, resumed by both processes for a second epoch, ends where the same run made
    # in one go ends (float32 rounding of the summed gradients only).
    for index, report in enumerate(reports):
        resumed = report["resume"]["resumed"]
        assert resumed["code"] == 0, resumed
        assert "Resuming" in resumed["printed"] and "after epoch 1 of 2" in resumed["printed"]
        assert report["resume"]["whole"]["code"] == 0, report["resume"]["whole"]
    with open(run / "log.csv") as file:
        assert [row["epoch"] for row in csv.DictReader(file)] == ["0", "1"]
    resumed = keras.saving.load_model(run / "last.keras")
    whole = keras.saving.load_model(tmp_path / "whole" / "last.keras")
    pairs = list(zip(resumed.weights + resumed.optimizer.variables,
                     whole.weights + whole.optimizer.variables))
    assert len(pairs) > 10 and int(resumed.optimizer.iterations) == 4
    difference = max(float(np.max(np.abs(keras.ops.convert_to_numpy(a)
                                          - keras.ops.convert_to_numpy(b))))
                     for a, b in pairs)
    print(f"resumed vs uninterrupted two-process run: largest difference {difference:.3g}")
    assert difference <= 1e-6
    measured = {}
    for kind, report in (("gan", reports[0]), ("diffusion", reports[1])):
        run_ = report[kind]
        measured[kind] = run_["max_weight_diff"]
        assert run_["weights_moved"] > 0.05, kind
        # float32 rounding only: the two processes sum the gradients and batch-norm
        # statistics of their halves in another order than one process does (measured
        # 1.5e-7 at most over the weights and optimizer slots).
        assert run_["max_weight_diff"] < 1e-6, (kind, run_["max_weight_diff"])
    print("measured max weight difference:", measured)


@covers("processes-bad-request", "processes-too-late", "processes-torch")
def test_bad_requests_are_refused():
    if BACKEND == "torch":
        with pytest.raises(RuntimeError, match="not available on the PyTorch backend.*DDP"):
            kgen.initialize_processes("127.0.0.1:1234", num_processes=2, process_id=0)
        with pytest.raises(SystemExit, match="not available on the PyTorch backend"):
            cli.main(["train", "gan", "--coordinator", "127.0.0.1:1234",
                      "--num-processes", "2", "--process-id", "0", "--epochs", "1"])
        return
    cases = [
        (dict(coordinator="127.0.0.1", num_processes=2, process_id=0), "HOST:PORT"),
        (dict(coordinator="127.0.0.1:70000", num_processes=2, process_id=0), "1 to 65535"),
        (dict(coordinator="127.0.0.1:1234", num_processes=0, process_id=0),
         "num_processes must be an integer of at least 1"),
        (dict(coordinator="127.0.0.1:1234", num_processes=2, process_id=2),
         "process_id must be an integer from 0 to num_processes - 1 = 1"),
        (dict(coordinator="127.0.0.1:1234", num_processes=2), "needs process_id"),
        (dict(workers="a:1,b:2,c:3", num_processes=2, process_id=0),
         "workers names 3 address"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            kgen.initialize_processes(**kwargs)
    with pytest.raises(SystemExit, match="--process-id 5: process_id must be"):
        cli.main(["train", "gan", "--coordinator", "127.0.0.1:1234", "--num-processes", "2",
                  "--process-id", "5", "--epochs", "1"])
    # This test process has started its devices already: a real start is refused,
    # naming the fix (call it first).
    keras.ops.ones(1)
    port = _free_ports(1)[0]
    with pytest.raises(RuntimeError, match="before|program startup"):
        kgen.initialize_processes(f"127.0.0.1:{port}", num_processes=2, process_id=1)
    assert kgen.processes().num_processes == 1 and not kgen.processes().initialized
    assert "TF_CONFIG" not in os.environ


@pytest.mark.skipif(BACKEND == "torch", reason="PyTorch refuses any call (tested above)")
@covers("processes-too-late")
def test_one_process_and_a_second_call(monkeypatch):
    monkeypatch.setattr(sys.modules["kgen.distribute"], "_PROCESSES", [])
    processes = kgen.initialize_processes("127.0.0.1:1234", num_processes=1, process_id=0)
    assert (processes.num_processes, processes.process_id, processes.is_writer) == (1, 0, True)
    assert kgen.processes() is processes and processes.initialized
    with pytest.raises(RuntimeError, match="already called"):
        kgen.initialize_processes("127.0.0.1:1234", num_processes=1, process_id=0)
