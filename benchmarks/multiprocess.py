"""Two processes against one on this machine: weight difference and time per step.

    KERAS_BACKEND=jax python benchmarks/multiprocess.py        (or tensorflow)

Starts two processes of ``tests/multiprocess_check.py --timed`` on 127.0.0.1 (a GAN and a
diffusion model of 8x8 images, global batch 16, one epoch of 4 steps compiled, a second
timed) and prints, per model, the largest weight difference from one process with the
same global batches, and the seconds per step of the two-process and one-process runs
(the one-process run of the GAN in process 0, of the diffusion model in process 1).
"""

import json
import os
import pathlib
import socket
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
CHECK = HERE.parent / "tests" / "multiprocess_check.py"


def main():
    backend = os.environ.get("KERAS_BACKEND", "jax")
    sockets = [socket.socket() for _ in range(2)]
    for item in sockets:
        item.bind(("127.0.0.1", 0))
    ports = [item.getsockname()[1] for item in sockets]
    for item in sockets:
        item.close()
    addresses = f"127.0.0.1:{ports[0]}" if backend == "jax" else \
        ",".join(f"127.0.0.1:{port}" for port in ports)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    with tempfile.TemporaryDirectory() as out:
        processes = [subprocess.Popen([sys.executable, str(CHECK), str(i), addresses, out,
                                       "--timed"], stdout=subprocess.PIPE, text=True,
                                      stderr=subprocess.DEVNULL, env=env) for i in range(2)]
        try:
            outputs = [p.communicate(timeout=600)[0] for p in processes]
        finally:
            for p in processes:
                if p.poll() is None:
                    p.kill()
                    p.communicate()
    reports = [json.loads(next(line for line in text.splitlines()
                               if line.startswith("RESULT "))[7:]) for text in outputs]
    for kind, report in (("gan", reports[0]), ("diffusion", reports[1])):
        run = report[kind]
        print(f"{backend} {kind}: max weight difference {run['max_weight_diff']:.1e}; "
              f"{run['step_seconds_two_processes'] * 1000:.1f} ms per step on 2 processes, "
              f"{run['step_seconds_one_process'] * 1000:.1f} ms on 1")


if __name__ == "__main__":
    main()
