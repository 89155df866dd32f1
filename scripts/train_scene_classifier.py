"""Train the scene classifier shipped with kgen (kgen/metrics/extractors/scene_classifier.weights.h5).

The classifier (`kgen.metrics.extractors.build_scene_classifier`) reads the five attributes
of a ``"captioned_digits"`` scene (digit, colour, background, size, position); it judges
the samples of text-to-image models and gives the features of FID for 32x32 scenes.

Training scenes: the training digit images (those of the ``"train"`` split) rendered with
`kgen.data.captioned.render` in attributes drawn uniformly at random (any colour on any
other background, so the held-out digit-colour pairs of `kgen.data.captioned.HELD_OUT`
too: the classifier must judge them), a new draw every epoch. It is evaluated once on the
``"test"`` and ``"heldout"`` scenes, whose digit images it never saw; they play no part in
training or model selection.

Usage (the shipped file was made with the JAX backend and the defaults):

    KERAS_BACKEND=jax python scripts/train_scene_classifier.py
    python scripts/train_scene_classifier.py --output /tmp/scenes.weights.h5 --epochs 4

The weights file is backend-neutral: it loads under TensorFlow, JAX and PyTorch.
"""

import argparse
import os
import time

import keras
import numpy as np

import kgen
from kgen.data import captioned
from kgen.metrics.extractors import SCENE_CLASSIFIER_WEIGHTS, build_scene_classifier


def random_scenes(digits, classes, count, rng):
    """``count`` scenes of the given digit images in uniformly drawn attributes."""
    source = rng.integers(0, len(digits), size=count)
    colour = rng.integers(0, len(captioned.COLOURS), size=count)
    background = rng.integers(0, len(captioned.COLOURS) - 1, size=count)
    background = background + (background >= colour)
    attributes = {"digit": classes[source], "colour": colour, "background": background,
                  "size": rng.integers(0, len(captioned.SIZES), size=count),
                  "position": rng.integers(0, len(captioned.POSITIONS), size=count)}
    jitter = rng.integers(-1, 2, size=(count, 2))
    images = captioned.render(digits[source, ..., 0], attributes, jitter)
    return (kgen.data.to_data_space(images),
            {name: np.asarray(value, np.int32) for name, value in attributes.items()})


def accuracies(model, split, seed):
    scenes = captioned.load_scenes(split, seed=seed)
    logits = model.predict(kgen.data.to_data_space(scenes["images"]), batch_size=256,
                           verbose=0)
    right = {name: logits[name].argmax(-1) == scenes["attributes"][name]
             for name in captioned.ATTRIBUTES}
    result = {name: float(value.mean()) for name, value in right.items()}
    result["all five"] = float(np.logical_and.reduce(list(right.values())).mean())
    return len(scenes["images"]), result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output", default=SCENE_CLASSIFIER_WEIGHTS,
                        help="where to write the weights (default: the shipped file)")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--scenes", type=int, default=20000, help="scenes drawn per epoch")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=2e-3,
                        help="the first learning rate, lowered to 0 along a cosine")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    keras.utils.set_random_seed(args.seed)
    digits, classes = kgen.data.load("digits", split="train", return_labels=True)
    rng = np.random.default_rng(args.seed)
    model = build_scene_classifier()
    steps = args.epochs * -(-args.scenes // args.batch_size)
    model.compile(
        optimizer=keras.optimizers.Adam(
            keras.optimizers.schedules.CosineDecay(args.learning_rate, steps)),
        loss={name: keras.losses.SparseCategoricalCrossentropy(from_logits=True)
              for name in captioned.ATTRIBUTES},
        metrics={name: ["accuracy"] for name in captioned.ATTRIBUTES},
    )
    start = time.time()
    for epoch in range(args.epochs):
        x, y = random_scenes(digits, classes, args.scenes, rng)
        print(f"epoch {epoch + 1}/{args.epochs}", flush=True)
        model.fit(x, y, epochs=1, batch_size=args.batch_size, verbose=2, shuffle=True)
    seconds = time.time() - start
    # Save the weights only, from a fresh (uncompiled) copy: no optimizer state in the file.
    clean = build_scene_classifier()
    clean.set_weights(model.get_weights())
    clean.save_weights(args.output)
    print(f"backend {keras.backend.backend()}, {args.epochs} x {args.scenes} training scenes, "
          f"{seconds:.1f} s")
    for split in ("test", "heldout"):
        count, result = accuracies(clean, split, args.seed)
        print(f"{split} scenes ({count}): " + ", ".join(
            f"{name} {value:.4f}" for name, value in result.items()))
    print(f"wrote {args.output} ({os.path.getsize(args.output) / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
