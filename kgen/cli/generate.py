"""``kgen generate``: samples of a trained model, with its family's conditions, to image files.

``kgen generate RUN_OR_CHECKPOINT -n 64 --seed 0 --out grid.png`` writes a grid (PNG, or
JPEG for ``.jpg``/``.jpeg``); ``--individual DIR`` also writes one PNG per sample. The
conditions are those of the model's family (`kgen.models.registry`): ``--labels 3,3,7``
for class-conditional models, ``--inputs FOLDER_OR_IMAGE`` for translation,
``--images``/``--mask`` for completion and inpainting, ``--sampler``/``--steps``/
``--eta``/``--guidance-scale`` for diffusion, ``--temperature`` for autoregressive models,
``--direction`` for a CycleGAN. A condition the family does not take is an error that
lists the ones it does. ``--rerank CLIP_RUN`` draws ``--candidates`` times as many
samples and keeps those a trained CLIP model finds closest to ``--prompt`` (or
``--rerank-prompt``), best first (`kgen.clip_guidance.rerank`).
"""

import os

import keras
import numpy as np

import kgen
from kgen.cli.errors import check_writable, fail
from kgen.cli.run_folder import first_array, checkpoint_path

#: Condition flags: (argument name, generate() keyword).
CONDITION_FLAGS = (("labels", "labels"), ("inputs", "inputs"), ("images", "images"),
                   ("mask", "mask"), ("sampler", "sampler"), ("steps", "steps"),
                   ("eta", "eta"), ("guidance_scale", "guidance_scale"),
                   ("temperature", "temperature"), ("direction", "direction"),
                   ("prompt", "prompt"), ("negative_prompt", "negative_prompt"))


def load_checkpoint(path):
    """The kgen model in ``path`` (a run folder or a ``.keras`` file), or a clear error.

    `kgen.models.load` reads the file: a missing, empty, truncated, non-zip or foreign
    (not kgen) file, or one that does not load, is named with what it holds.
    """
    path = checkpoint_path(path)
    try:
        return kgen.models.load(path)
    except (ValueError, TypeError, FileNotFoundError) as error:
        fail(f"could not load {path!r} as a kgen model: {error}")


def describe_load_error(path, error):
    """A plain sentence for a ``.keras`` file that could not be loaded."""
    import zipfile

    size = os.path.getsize(path) if os.path.exists(path) else None
    if size == 0:
        return "the file is empty (0 bytes): it was not written completely."
    if size is not None and not zipfile.is_zipfile(path):
        return ("the file is not a .keras archive (a zip file): it is truncated, corrupt, "
                "or of another format.")
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def _read_images(path, shape, name):
    """Images for ``--inputs``/``--images``: a folder, one image file, or a .npy array."""
    if path.endswith(".npy"):
        try:
            return np.load(path)
        except (OSError, ValueError) as error:
            fail(f"--{name} {path!r}: {error}")
    size = shape[0] if shape[0] == shape[1] else None
    kind = "image" if os.path.isfile(path) else "samples"
    try:
        source = kgen.data.open_source(path if os.path.isfile(path) else f"folder:{path}",
                                       kind=kind, image_size=size, channels=shape[-1])
        if kind == "image":
            return np.asarray(source.images)
        return first_array(source.arrays())
    except (ValueError, TypeError, FileNotFoundError, OSError, RuntimeError) as error:
        fail(f"--{name} {path!r}: {error}")


def conditions(args, model, family):
    """The ``generate()`` keyword arguments given on the command line, checked."""
    given = {keyword: getattr(args, name) for name, keyword in CONDITION_FLAGS
             if getattr(args, name, None) is not None}
    unknown = [key for key in given if key not in family.conditions]
    if unknown:
        flags = ", ".join("--" + key.replace("_", "-") for key in unknown)
        accepted = ", ".join("--" + c.replace("_", "-") for c in family.conditions) or "none"
        fail(f"{type(model).__name__} ({family.name}) does not take {flags}; its conditions "
             f"are: {accepted}.")
    shape = getattr(model, "input_image_shape", None) or _image_shape(model)
    if "labels" in given:
        try:
            given["labels"] = [int(v) for v in str(given["labels"]).split(",") if v.strip()]
        except ValueError:
            fail(f"--labels takes class indices separated by commas (3,3,7); got "
                 f"{args.labels!r}.")
    for key in ("inputs", "images", "mask"):
        if key in given:
            given[key] = _read_images(given[key], shape, key)
    if "mask" in given:
        mask = given["mask"]
        given["mask"] = (mask > (127 if mask.dtype == np.uint8 else 0)).astype("float32")
    return given


def _image_shape(model):
    for name in ("sample_shape", "image_shape", "input_shape_a"):
        value = getattr(model, name, None)
        if value is not None and len(tuple(value)) == 3:
            return tuple(value)
    try:
        return tuple(model.generate(1, seed=0).shape[1:])
    except Exception:  # noqa: BLE001 - a model that needs conditions to sample
        return (None, None, None)


def save_images(samples, out, individual=None):
    """Writes the grid ``out`` (and one PNG per sample in ``individual``); returns the grid path."""
    extension = os.path.splitext(out)[1].lower()
    check_writable(out, "--out")
    if individual:
        check_writable(individual, "--individual")
    if samples.ndim == 2 and samples.shape[1] == 2:
        if extension != ".png":
            fail(f"--out {out!r}: 2-D points are drawn as a PNG scatter plot; name the file "
                 ".png.")
        return kgen.images.save_scatter(samples, out)
    try:
        path = kgen.images.save_grid(samples, out)
    except ValueError as error:
        fail(f"--out {out!r}: {error}")
    if individual:
        os.makedirs(individual, exist_ok=True)
        for index, sample in enumerate(samples):
            kgen.images.save_grid(sample[None], os.path.join(individual, f"{index:05d}.png"))
    return path


def generate(args):
    """``kgen generate``: writes samples of a checkpoint to image files."""
    from kgen import checks
    from kgen.cli.train import banner
    from kgen.models import registry

    try:
        checks.seed(args.seed, "--seed")
        checks.optional_integer(args.num_samples, "--num-samples", 1)
    except (TypeError, ValueError) as error:
        fail(str(error))
    checkpoint_path(args.checkpoint)
    banner()
    model = load_checkpoint(args.checkpoint)
    family = registry.family_of(model)
    if not family.generates:
        fail(f"{type(model).__name__} ({family.name}) draws no samples: it has nothing for "
             "kgen generate to write. Load the checkpoint in Python "
             f"(keras.saving.load_model) and use its own methods.")
    kwargs = conditions(args, model, family)
    count = args.num_samples
    if not family.trains_on_batches:
        count = None
    elif any(key in kwargs for key in ("inputs", "images")):
        # One sample per given image: the first -n of them.
        for key in ("inputs", "images", "mask"):
            if key in kwargs and len(kwargs[key]) > count:
                kwargs[key] = kwargs[key][:count]
        count = None
    elif "labels" in kwargs and len(kwargs["labels"]) > 1:
        count = None   # one sample per label
    ranking = reranking(args, count)
    drawn = count if ranking is None else count * ranking[2]
    if drawn is not None and "labels" not in kwargs and not any(
            key in kwargs for key in ("inputs", "images")):
        from kgen.cli.train import class_labels

        kwargs.update(class_labels(model, family, drawn))
    try:
        samples = model.generate(drawn, seed=args.seed, **kwargs)
    except (ValueError, TypeError) as error:
        fail(str(error))
    ranked = ""
    if ranking is not None:
        clip, prompt, _ = ranking
        try:
            best = kgen.clip_guidance.rerank(clip, samples, prompt, top=count)
        except (ValueError, TypeError) as error:
            fail(f"--rerank: {error}")
        samples = best.images
        ranked = (f", the {count} of {drawn} closest to {prompt!r} by CLIP similarity "
                  f"({best.similarity[0]:.3f} to {best.similarity[-1]:.3f})")
    path = save_images(samples, args.out, args.individual)
    print(f"Wrote {len(samples)} samples (seed {args.seed}){ranked} to {path}"
          + (f" and one PNG each to {args.individual}" if args.individual else ""))
    return 0


#: Samples ``--rerank`` draws for each one it keeps, unless ``--candidates`` says.
DEFAULT_CANDIDATES = 8


def reranking(args, count):
    """``(clip, prompt, candidates)`` for ``--rerank``, checked; None without it."""
    from kgen import checks
    from kgen.models import CLIP

    if args.rerank is None:
        for flag, given in (("--rerank-prompt", args.rerank_prompt is not None),
                            ("--candidates", args.candidates is not None)):
            if given:
                fail(f"{flag} is a re-ranking option: pass --rerank CLIP_RUN with it.")
        return None
    try:
        candidates = DEFAULT_CANDIDATES if args.candidates is None else \
            checks.integer(args.candidates, "--candidates", 1)
    except (TypeError, ValueError) as error:
        fail(str(error))
    if count is None:
        fail("--rerank keeps -n of the samples it draws; it cannot rank samples that follow "
             "one given input, image or label each (--inputs, --images, a --labels list), "
             "nor the one image of a single-image family.")
    prompt = args.rerank_prompt if args.rerank_prompt is not None else args.prompt
    if prompt is None:
        fail("--rerank needs the text to rank by: --prompt (text-conditioned models) or "
             "--rerank-prompt \"a red seven\".")
    clip = load_checkpoint(args.rerank)
    if not isinstance(clip, CLIP):
        fail(f"--rerank takes a trained CLIP model (kgen train clip); {args.rerank!r} holds "
             f"a {type(clip).__name__}.")
    return clip, prompt, candidates
