#!/usr/bin/env python
"""At which noise level a text-to-image model reads the digit from the image or from the word.

Noises ``--scenes`` test scenes of ``captioned_digits`` to each timestep of
``--timesteps`` (one noise draw, seed ``--seed``) and lets the model predict the clean
scene three times: with the scene's caption, with the caption of the same scene but
another digit word (each scene's digit moved by a random 1 to 9), and with the empty
text. The shipped scene classifier (`kgen.metrics.scene_attributes`) reads the digit of
each prediction. A class-conditional `kgen.models.Diffusion` trained on the scenes'
digit labels (``num_classes=10``) is read the same way, with its labels in place of the
captions and its null label for the empty text: the control of a model that is given
the digit directly. A latent model noises the scenes' latents, and its predictions are
decoded before the classifier reads them. It prints, per timestep, the share of predictions that show the
scene's digit with the right caption, with the wrong one and with none, and the share
of wrong-caption predictions that show the digit the wrong caption names.

Where the image still shows its digit (low noise) every column reads it; where it no
longer does, a model that follows its digit word keeps the right-caption column high and
moves the wrong-caption predictions to the named digit, and a model that ignores the
word falls to chance (0.10) in every column. Single model predictions, no guidance and
no sampling chain: it separates what the network does with the word from how a sampler
uses it.

    KERAS_BACKEND=jax python benchmarks/text_diffusion_denoising.py \\
        --model runs/text_diffusion_captioned_digits/model.keras
    KERAS_BACKEND=jax python benchmarks/text_diffusion_denoising.py \\
        --model runs/digit_control/model.keras --train-control 30
    KERAS_BACKEND=jax python benchmarks/text_diffusion_denoising.py \\
        --model runs/digit_control_normal/model.keras --train-control 10 --embedding-stddev 1
"""

import argparse
import json
import os

import keras
import numpy as np

import kgen
from kgen.data import captioned
from kgen.metrics import scene_attributes


def captions(attributes, digits):
    """Template-0 captions of the scenes with their digit replaced by ``digits``."""
    names = list(captioned.ATTRIBUTES)
    return [captioned.caption({**{name: int(attributes[name][i]) for name in names},
                               "digit": int(digit)}) for i, digit in enumerate(digits)]


def condition(model, values):
    """A batch's condition: encoded captions, or digit labels of a class-conditional
    `kgen.models.Diffusion` (the empty text becomes its null label)."""
    if isinstance(model, kgen.models.TextDiffusion):
        ids = model.tokenize(np.asarray(values))
        return model.encode_text(ids, encoder=model.sampling_text_encoder), None
    return np.asarray(values, "int32")


def predicted_digits(model, x_t, t, values, batch_size):
    """The digits the classifier reads in the model's clean-image predictions."""
    found = []
    for start in range(0, len(x_t), batch_size):
        part = slice(start, start + batch_size)
        steps = np.full((len(x_t[part]),), t, "int32")
        _, x0 = model.model_predictions(x_t[part], steps, condition(model, values[part]))
        x0 = keras.ops.convert_to_numpy(x0)
        if getattr(model, "autoencoder", None) is not None:   # latents: decoded first
            x0 = model.decode_latents(x0)
        found.append(scene_attributes(np.clip(x0, -1, 1))["digit"])
    return np.concatenate(found)


def train_control(path, epochs, seed, embedding_stddev=None):
    """Trains the class-conditional control on the training scenes' digits and saves it:
    the U-Net, schedule, prediction and optimizer of
    `recipes/text_diffusion_captioned_digits.py`, a digit label in place of the caption.
    A new control's class embedding starts as Keras's `Embedding` starts (uniform in
    +-0.05), or normal with ``embedding_stddev``."""
    keras.utils.set_random_seed(seed)
    scenes = captioned.load_scenes("train")
    if os.path.exists(path):    # trains the saved control further, optimizer state and all
        model = keras.saving.load_model(path)
        print(f"Training {path} for {epochs} more epochs.", flush=True)
    else:
        model = kgen.models.Diffusion.from_shape(
            scenes["images"].shape[1:], num_classes=10, timesteps=1000, schedule="cosine",
            prediction="v", base_filters=16, channel_multipliers=(1, 2, 2),
            num_res_blocks=1, seed=seed)
        if embedding_stddev is not None:
            table = model.network.get_layer("class_embedding").embeddings
            table.assign(np.random.default_rng(seed).normal(
                0.0, embedding_stddev, table.shape).astype("float32"))
            if model.ema_network is not None:
                model.ema_network.get_layer("class_embedding").embeddings.assign(table)
        model.compile(optimizer=keras.optimizers.Adam(5e-4))
    model.fit(scenes["images"], scenes["attributes"]["digit"], batch_size=64, epochs=epochs,
              verbose=2, shuffle=True, callbacks=[kgen.callbacks.Checkpoint(path)])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="runs/text_diffusion_captioned_digits/model.keras")
    parser.add_argument("--scenes", type=int, default=512)
    parser.add_argument("--timesteps", type=int, nargs="+",
                        default=[300, 500, 700, 800, 850, 900, 950])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--train-control", type=int, default=None, metavar="EPOCHS",
                        help="first train the class-conditional control for EPOCHS epochs "
                             "and save it to --model (a control already saved there is "
                             "trained EPOCHS more)")
    parser.add_argument("--embedding-stddev", type=float, default=None, metavar="S",
                        help="a new control's class embedding starts normal with this "
                             "standard deviation (default: Keras's uniform +-0.05)")
    args = parser.parse_args()
    if args.train_control:
        train_control(args.model, args.train_control, args.seed, args.embedding_stddev)
    model = keras.saving.load_model(args.model)
    scenes = captioned.load_scenes("test", num_samples=args.scenes, seed=args.seed)
    attributes = scenes["attributes"]
    truth = attributes["digit"]
    rng = np.random.default_rng(args.seed)
    other = (truth + rng.integers(1, 10, size=truth.shape)) % 10
    if isinstance(model, kgen.models.TextDiffusion):
        texts = {"right": np.asarray(captions(attributes, truth)),
                 "wrong": np.asarray(captions(attributes, other)),
                 "empty": np.full(len(truth), "")}
    elif getattr(model, "num_classes", None) == 10:
        texts = {"right": truth, "wrong": other, "empty": np.full(len(truth), 10)}
    else:
        parser.error(f"{args.model} is neither a TextDiffusion nor a Diffusion conditioned "
                     "on the ten digits (num_classes=10).")
    x0 = kgen.data.to_data_space(scenes["images"])
    if getattr(model, "autoencoder", None) is not None:   # a latent model's scaled latents
        x0 = np.concatenate([keras.ops.convert_to_numpy(model.training_data(x0[i:i + 256]))
                             for i in range(0, len(x0), 256)])
    noise = rng.standard_normal(x0.shape).astype("float32")
    rows = []
    for t in args.timesteps:
        x_t = keras.ops.convert_to_numpy(
            model.q_sample(x0, np.full((len(x0),), t, "int32"), noise))
        read = {name: predicted_digits(model, x_t, t, text, args.batch_size)
                for name, text in texts.items()}
        rows.append({"t": t, **{f"{name} caption": float(np.mean(read[name] == truth))
                                for name in read},
                     "wrong caption, named digit": float(np.mean(read["wrong"] == other))})
    if args.json:
        print(json.dumps({"model": args.model, "scenes": args.scenes, "rows": rows}))
        return
    print(f"{args.model}: {args.scenes} test scenes; the digit the classifier reads in the "
          "predicted clean scene")
    print(f"{'t':>5} {'right caption':>14} {'wrong caption':>14} {'empty text':>11} "
          f"{'wrong: the named digit':>23}")
    for row in rows:
        print(f"{row['t']:>5} {row['right caption']:>14.3f} {row['wrong caption']:>14.3f} "
              f"{row['empty caption']:>11.3f} {row['wrong caption, named digit']:>23.3f}")


if __name__ == "__main__":
    main()
