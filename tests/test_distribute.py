"""Training on several devices: one epoch on 4 devices (JAX; 2 on TensorFlow) equals one
epoch on one device, for every family trained on batches."""

import json
import os
import pathlib
import subprocess
import sys

import keras
import pytest

import kgen
from kgen import cli

HERE = pathlib.Path(__file__).parent
BACKEND = keras.backend.backend()
#: Every family trained on batches, and the variants of distributed_check.py: texture
#: synthesis, style transfer and Deep Image Prior optimise one image and have no batch.
FAMILIES = tuple(f.name for f in kgen.models.registry.families() if f.trains_on_batches) \
    + ("wgan_gp",)


def test_several_devices_give_the_weights_of_one():
    if BACKEND == "torch":  # Keras 3.15's fit() has no DDP: a clear error instead
        with pytest.raises(RuntimeError, match="not available on the PyTorch backend"):
            kgen.distribute(2)
        with pytest.raises(RuntimeError, match="DistributedDataParallel"):
            kgen.distribute(1, model_parallel=2)
        return
    result = subprocess.run([sys.executable, str(HERE / "distributed_check.py")],
                            capture_output=True, text=True,
                            env=dict(os.environ, KERAS_BACKEND=BACKEND,
                                     TF_CPP_MIN_LOG_LEVEL="2"))
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert result.returncode == 0 and lines, result.stderr[-3000:]
    report = json.loads(lines[0][len("RESULT "):])
    print("measured:", {kind: {key: run[key] for key in ("max_weight_diff", "worst",
                                                          "weights_moved")}
                        for kind, run in report.items() if isinstance(run, dict)
                        and "worst" in run})
    model_parallel = ("gan", "conditional_gan", "pix2pix", "vqvae", "diffusion") \
        if BACKEND == "jax" else ()
    for kind in FAMILIES + tuple(f"{k}/model_parallel" for k in model_parallel):
        run = report[kind]
        # Data parallel: one replica per device; on a (2, 2) mesh: 2 replicas, kernels
        # split over 2.
        devices = report["devices"]
        assert devices == (4 if BACKEND == "jax" else 2)
        assert run["replicas"] == (2 if kind.endswith("/model_parallel") else devices)
        # Training moved the weights far more than the tolerance: at least 2,000 times
        # the largest one below (text_diffusion's x0-predicting tiny U-Net, at a larger
        # step than the others, 0.077 on JAX; the others 0.05 or more).
        assert run["weights_moved"] > 0.02, kind
        # Same weights, batch-norm statistics, codebook, image pools and optimizer slots
        # (both optimizers of a GAN) up to float32 rounding: the replicas sum their
        # gradients and batch statistics in another order than one device does (a few
        # ulps of values of order 1, over 4 steps). The U-Net and ResNet generators of
        # pix2pix and CycleGAN (normalisation layers, Adam) carry the rounding further:
        # up to 3e-6 measured, so 1e-5 there; 3e-7 at most for the others. CLIP's logits
        # are cosines scaled by 1/0.07 (the rounding of the embeddings grows 14 times, and
        # its loss is of the whole gathered batch): 2.7e-6 measured on JAX, so 1e-5 too.
        # A text encoder's token embedding sums the gradients of every position of every
        # caption, in another order on the replicas: 4.5e-6 measured for text_diffusion
        # on TensorFlow (its position table, at its larger step), so 1e-5 there too.
        tolerance = 1e-5 if kind.split("/")[0] in ("pix2pix", "cyclegan", "clip",
                                                    "text_diffusion") else 1e-6
        assert run["max_weight_diff"] < tolerance, (kind, run["worst"], run["max_weight_diff"])
        # Every replica holds the same copy of every variable.
        assert run["replica_spread"] == 0.0, kind
        # The logged losses are the global batch's, unscaled by the replica count.
        for key, value in run["logs_one"].items():
            assert run["logs_many"][key] == pytest.approx(value, rel=1e-5, abs=1e-6), \
                (kind, key)
    assert report["cli"]["code"] == 0 and report["cli"]["checkpoint"]
    assert f"on {report['devices']} devices" in report["cli"]["printed"]


def test_one_device_and_bad_requests():
    with kgen.distribute(1) as scope:
        gan = kgen.models.GAN.from_shape((8, 8, 1), latent_dim=4, base_filters=4, seed=0)
    assert scope.num_replicas == 1 and scope.engine == "one device"
    with scope:  # a scope can be entered again (build in it, then fit in it)
        assert gan.built
    assert gan.generate(2, seed=0).shape == (2, 8, 8, 1)
    with pytest.raises(ValueError, match="positive integer or 'all'"):
        kgen.distribute(0)
    with pytest.raises(ValueError, match="model_parallel must be"):
        kgen.distribute(1, model_parallel="wide")
    if BACKEND != "torch":
        with pytest.raises(ValueError, match="sees 1 device"):
            kgen.distribute(64)
    with pytest.raises(SystemExit, match="--devices must be a positive integer"):
        cli.main(["train", "gan", "--devices", "none"])
    with pytest.raises(SystemExit, match="--devices 64: .*device"):
        cli.main(["train", "gan", "--devices", "64", "--epochs", "1"])


def test_model_parallel_is_for_jax():
    if BACKEND == "jax":
        scope = kgen.distribute(1, model_parallel=1)
        assert scope.engine == "keras.distribution.ModelParallel"
        with pytest.raises(ValueError, match="must divide"):
            kgen.distribute(1, model_parallel=3)
    elif BACKEND == "tensorflow":
        with pytest.raises(ValueError, match="JAX backend only"):
            kgen.distribute(1, model_parallel=2)
    else:
        with pytest.raises(RuntimeError, match="not available on the PyTorch backend"):
            kgen.distribute(1, model_parallel=2)
