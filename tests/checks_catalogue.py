"""The catalogue of bad inputs: what a user may pass by mistake, and what kgen says or does.

Each row is tested: a test that checks a row carries ``@covers("row-id")``, and
tests/test_checks_catalogue.py checks that every row has a test, that every ``covers``
names a row, and that docs/guides/checks.md lists exactly these rows. The page is
written from here:

    .venv/bin/python tests/checks_catalogue.py > docs/guides/checks.md
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class Row:
    """One bad input: an id (kebab case), where it is given, what is given, what kgen does."""

    id: str
    where: str
    given: str
    outcome: str


#: The sections of the page, in order: (title, introduction).
SECTIONS = {
    "fit": ("Training data given to `fit()`",
            "For every registered family (`kgen.models.registry.families()`), whatever "
            "feeds `fit()`: numpy arrays, `tf.data` datasets, `keras.utils.PyDataset`s. "
            "Arrays are checked before training; datasets batch by batch as they are "
            "read (`kgen.data.guard`), and a bad batch stops `fit()` with the epoch and "
            "batch named."),
    "models": ("Building, saving and loading models", ""),
    "metrics": ("Metrics", ""),
    "callbacks": ("Checkpoints and resuming", ""),
    "images": ("Data and image files", ""),
    "networks": ("Your own networks",
                 "A Keras network of your own either works or is refused with a message that "
                 "says what kgen passes it and what it expects back."),
    "cli": ("The command line",
            "Every problem with what was asked is one line, `kgen: error: ...`, that names "
            "it and the fix, and the command exits with status 2: never a traceback."),
}

ROWS = (
    # ------------------------------------------------------------------ fit()
    Row("fit-uint8", "fit",
        "uint8 images (0..255) as a numpy array, a `tf.data` dataset or a `PyDataset`",
        "Converted in the training step by `x / 127.5 - 1`, exactly as "
        "`kgen.data.images` converts them, for every family (targets and second domains "
        "of the translation families too)."),
    Row("fit-uint16", "fit", "uint16 images (0..65535)",
        "Converted in the training step by `x / 32767.5 - 1`."),
    Row("fit-grayscale-rank3", "fit",
        "grayscale images `(N, H, W)` for a model of `(H, W, 1)` images",
        "A channel axis is added: trained as `(N, H, W, 1)` (Diffusion, which checks "
        "the shape of its arrays itself, refuses them, naming the shape it takes)."),
    Row("fit-float-outside", "fit",
        "float images outside [-1, 1] (such as 0..255 floats), as an array",
        "`ValueError` before training: the range found, and `x / 127.5 - 1` (or uint8 "
        "images) as the fix."),
    Row("fit-float-outside-dataset", "fit",
        "float images outside [-1, 1] in a `tf.data` dataset or a `PyDataset`",
        "`ValueError` naming the epoch and batch, the range found, and the fix."),
    Row("fit-zero-to-one", "fit",
        "float images that all lie in [0, 1] (an array or a dataset)",
        "`kgen.checks.ZeroToOneWarning` (\"scale them with `2 * x - 1`\"); trained as "
        "given."),
    Row("fit-integer-dtype", "fit",
        "images of another integer dtype (int32, int64) or of booleans",
        "`TypeError` before training, with `x.astype(np.uint8)` as the fix for pixel "
        "values."),
    Row("fit-nan", "fit", "NaN or infinite values in a numpy array",
        "`ValueError` before training, with the number of bad values."),
    Row("fit-nan-dataset", "fit",
        "NaN or infinite values in a batch of a `tf.data` dataset or a `PyDataset`",
        "`ValueError` naming the epoch and batch; no step trains on the bad batch."),
    Row("fit-labels-out-of-range", "fit",
        "class labels outside `0..num_classes - 1` (numpy)",
        "`ValueError` naming the bad labels and `num_classes`."),
    Row("fit-labels-out-of-range-dataset", "fit",
        "class labels outside `0..num_classes - 1` in a `tf.data` pipeline "
        "(ConditionalGAN, ConditionalVAE, Diffusion, PixelCNN, ... with classes)",
        "`ValueError` naming the epoch, the batch, the label and `num_classes`."),
    Row("fit-wrong-shape", "fit",
        "images of another size or channel count than the model was built for (an "
        "array, a dataset, a `PyDataset`)",
        "`ValueError` before training: the model, the shape it takes, the shape given, "
        "and `Model.from_shape(x.shape[1:])` to build one for the data."),
    Row("fit-channels-first", "fit", "channels-first images `(N, C, H, W)`",
        "`ValueError`: they look channels-first; `np.transpose(x, (0, 2, 3, 1))` "
        "(Diffusion: `ValueError` naming the shape it takes)."),
    Row("fit-missing-targets", "fit",
        "`fit(x)` without targets for Pix2Pix or CycleGAN",
        "`ValueError`: the family trains on pairs `(x, y)`."),
    Row("fit-validation-data", "fit", "bad `validation_data` (NaN, wrong shape, ...)",
        "The same checks as the training data, naming the validation data."),
    Row("fit-captions", "fit",
        "CLIP: images without captions, or a dataset that yields caption strings",
        "`ValueError` (\"CLIP trains on (images, captions) pairs\") before training; for "
        "strings in a dataset, a `TypeError` that names "
        "`kgen.data.tokenized(source, clip.tokenizer)` as the fix (arrays of strings are "
        "tokenized by `fit()` itself)."),
    # --------------------------------------------------------------- models
    Row("seed-negative", "models", "`seed=-1` (or a seed of 2**31 or more) to a model",
        "`ValueError`: a model's seed is an integer in `0..2**31 - 1`, the range of a "
        "seed generator on every backend."),
    Row("seed-not-integer", "models", "`seed=1.5` or `seed=\"0\"` to a model",
        "`TypeError`: seeds are integers."),
    Row("compile-accumulation-steps", "models",
        "`compile(accumulation_steps=0)` (or a negative number, a float, a bool, a "
        "string), or a Keras optimizer with its own `gradient_accumulation_steps`",
        "`ValueError` or `TypeError`: an integer of at least 1, the number of batches "
        "averaged into one update; for the optimizer, leave its setting unset and pass "
        "`compile(accumulation_steps=N)`."),
    Row("processes-bad-request", "models",
        "`kgen.initialize_processes` with a coordinator that is not `HOST:PORT`, a port "
        "outside 1..65535, `num_processes < 1`, a `process_id` outside "
        "0..num_processes - 1 or missing, or `workers` that do not match `num_processes`",
        "`ValueError` naming the argument and what it must be."),
    Row("processes-too-late", "models",
        "`kgen.initialize_processes` called after the backend has started its devices "
        "(a tensor or model already exists), or called twice",
        "`RuntimeError`: call it once, at the start of the program, before anything "
        "else uses Keras."),
    Row("processes-torch", "models",
        "`kgen.initialize_processes` (or `kgen train --num-processes 2`) on PyTorch",
        "`RuntimeError` (on the command line, one line): Keras 3's `fit()` has no "
        "multi-process (DDP) path on PyTorch; use JAX or TensorFlow."),
    Row("load-weights-other-family", "models",
        "`model.load_weights(\"other.keras\")` with a file of another family",
        "`ValueError` naming the family and options in the file and those of the model, "
        "and `kgen.models.load(path)` to load the file as it is."),
    Row("load-weights-other-options", "models",
        "`model.load_weights(...)` with a file of the same family built with other "
        "options (another `latent_dim`, width or image shape)",
        "`ValueError` listing the options that differ."),
    Row("load-missing", "models", "`kgen.models.load(path)` of a file that does not exist",
        "`FileNotFoundError` naming the path."),
    Row("load-empty", "models", "an empty `.keras` file (a killed write)",
        "`ValueError`: the file is empty; use an earlier checkpoint."),
    Row("load-truncated", "models",
        "a truncated `.keras` file, or a file that is not a zip archive",
        "`ValueError`: not a .keras archive (truncated, corrupt or of another format)."),
    Row("load-weights-file", "models",
        "a weights file (`.weights.h5`, HDF5) given to `kgen.models.load`",
        "`ValueError`: an HDF5 weights file; build the model and call `load_weights`."),
    Row("load-foreign", "models", "a `.keras` file of a Keras model that is not kgen's",
        "`ValueError` naming its class; `keras.saving.load_model` loads it."),
    Row("load-folder", "models", "a folder (a run folder, a SavedModel) to `kgen.models.load`",
        "`ValueError`: a folder, not a .keras file (with the file to load instead)."),
    Row("cli-bad-checkpoint", "models",
        "`kgen generate FILE` with an empty, truncated or foreign file",
        "`kgen: error: could not load ...` with the reason, exit status 2."),
    Row("compile-precision-unknown", "models",
        "`compile(precision=...)` other than `\"float32\"`, `\"mixed_bfloat16\"` or "
        "`\"mixed_float16\"` (`\"fp16\"`, `\"bfloat16\"`, a number)",
        "`ValueError` (`TypeError` for a non-string) listing the three; for `\"bfloat16\"` "
        "and `\"float16\"`, which would keep the variables in that dtype, "
        "`\"mixed_bfloat16\"` (`\"mixed_float16\"`) as the fix."),
    Row("compile-precision-conflict", "models",
        "`compile(precision=P)` for networks built under another mixed dtype policy",
        "`ValueError` naming the policy the networks compute in and the fix: "
        "`keras.config.set_dtype_policy(P)` before `from_shape()`; the networks are left "
        "as they were. (Networks built in float32 are switched to `P`.)"),
    Row("compile-precision-reduced-variables", "models",
        "networks built under the `\"bfloat16\"` or `\"float16\"` dtype policy "
        "(variables in reduced precision)",
        "`ValueError` at `compile()` naming the layer and `\"mixed_bfloat16\"` "
        "(`\"mixed_float16\"`): kgen trains with float32 variables."),
    # -------------------------------------------------------------- metrics
    Row("kid-nonfinite", "metrics",
        "NaN or infinite features to `kernel_inception_distance`",
        "`ValueError`: how many rows are not finite."),
    Row("pr-nonfinite", "metrics", "NaN or infinite features to `precision_recall`",
        "`ValueError`: how many rows are not finite."),
    Row("is-nonfinite", "metrics", "NaN or infinite predictions to `inception_score`",
        "`ValueError`: how many rows are not finite."),
    Row("is-probabilities-as-logits", "metrics",
        "probabilities to `inception_score` with the default `from_logits=True`",
        "`ProbabilitiesAsLogitsWarning`: pass `from_logits=False`."),
    Row("fid-not-psd", "metrics",
        "a covariance with negative eigenvalues to `frechet_distance`",
        "`ValueError`: not positive semi-definite, with its smallest eigenvalue."),
    Row("bits-per-dim-empty", "metrics", "`BitsPerDim().result()` before any data",
        "NaN: there is no likelihood to report yet."),
    # ------------------------------------------------------------ callbacks
    Row("checkpoint-nonfinite-weights", "callbacks",
        "an epoch whose last step left NaN or infinite weights behind a finite logged "
        "loss, with `kgen.callbacks.Checkpoint`",
        "The checkpoint is not replaced: the variables are checked before saving "
        "(`kgen.callbacks.weights_finite`); the last good file survives."),
    Row("save-nonfinite", "callbacks",
        "`kgen.callbacks.save_model_atomically` of a model with NaN weights",
        "`ValueError` naming the variable; nothing is written."),
    Row("checkpoint-stale-temporary", "callbacks",
        "a temporary file left by a checkpoint write that was killed",
        "Deleted when training starts again (`kgen.callbacks.remove_stale_temporaries`, "
        "shared with `kgen train`)."),
    Row("backup-and-restore", "callbacks",
        "a run killed and restored with `keras.callbacks.BackupAndRestore` and a "
        "`kgen.data.images(x, seed=...)` pipeline",
        "`fit()` sets the pipeline's epoch at every epoch, so the restored run reads the "
        "batches of the epochs it resumes and ends with the weights of an uninterrupted "
        "run."),
    # --------------------------------------------------------------- images
    Row("true-translation-unknown", "images",
        "`kgen.data.true_translation(name, a)` of a set with no known translation, or of "
        "images that are not uint8 `(N, H, W, C)`",
        "The bundled unpaired sets are named; the dtype and shape given are named."),
    Row("images-one-image", "images",
        "one image `(H, W, C)` to `kgen.data.images` (where a batch is expected)",
        "`ValueError`: it looks like one image; `x[None]` for one image."),
    Row("save-grid-extension", "images",
        "`kgen.images.save_grid(samples, \"grid.jpg\")` (or .bmp, .gif, .tif, .webp)",
        "Written in the format of the extension (JPEG, BMP, GIF, TIFF, WebP)."),
    Row("save-grid-unknown-extension", "images",
        "`save_grid` to a name without an extension or with an unknown one",
        "`ValueError` listing the extensions it writes."),
    Row("folder-captions", "images",
        "a captioned folder without `captions.jsonl`/`captions.txt`, with both, with "
        "images without a caption, lines naming files that are not its images, or "
        "malformed lines",
        "`ValueError` before training that names the folder, the file and line, or the "
        "images concerned."),
    Row("tfds-captions", "images",
        "`tfds:NAME` as captioned data when the set is not prepared, has no text feature "
        "named as a caption, an example without a caption, or images of several sizes "
        "without `image_size`",
        "`RuntimeError` saying how to prepare the set (nothing is downloaded), or "
        "`ValueError` naming the set, its features or the example, and `image_size` "
        "(`--image-size`) for sizes."),
    Row("scene-classifier-inputs", "metrics",
        "images other than 32x32x3 scenes to `kgen.metrics.scene_attributes` or the "
        "`\"scenes\"` extractor (`kgen evaluate --extractor scenes` of another image "
        "shape), or weights that are missing or of another network",
        "`ValueError` naming the shape it takes and the shape given (the command line "
        "points to `--extractor inception_v3`), or the weights file and the script that "
        "makes it."),
    Row("prompt-adherence-attributes", "metrics",
        "asked-for attributes to `kgen.metrics.prompt_adherence` that are not a mapping, "
        "lack one of the five attributes, have another length than the images, are not "
        "integers or index past an attribute's values",
        "`ValueError` naming the attribute, the length or index range it takes and what "
        "was given (the `\"attributes\"` of `kgen.data.captioned.load_scenes` are the "
        "expected form)."),
    Row("text-inpaint-latent", "models",
        "`images=`/`mask=` to a latent-space `TextDiffusion` (inpainting), or one without "
        "the other",
        "`ValueError`: a latent model holds no pixels to keep (inpaint with a pixel-space "
        "model); both `images=` and `mask=` are needed."),
    Row("text-latent-shape", "models",
        "a `TextDiffusion` whose network's input is not its autoencoder's latent shape (a "
        "VQ-VAE's encoder grid, a VAE's reshaped latent vector), or an `autoencoder=` that "
        "is not a VAE, autoencoder or VQ-VAE",
        "`ValueError` naming both shapes and `latent_shape_of(...)` / `latent_grid(...)` "
        "to build the network for; `TypeError` naming the kinds taken and the type given."),
    Row("save-grid-alpha-jpeg", "images", "four-channel images to a `.jpg` or `.bmp` grid",
        "`ValueError`: no alpha channel in that format; `images[..., :3]` or a `.png`."),
    Row("generate-condition-range", "images",
        "float `inputs=` outside [-1, 1] to a translation model's `generate()`",
        "`ValueError`: the range found, and uint8 images or `x / 127.5 - 1` as the fix; "
        "uint8 conditions are converted."),
    Row("prompt-too-long", "models",
        "a text longer than the tokenizer's context (CLIP's `encode_text`, `similarity`, "
        "`zero_shot`, a training caption, `kgen.networks.Tokenizer`)",
        "`ValueError` naming the text, its number of words and the context: texts are "
        "never cut."),
    Row("prompt-not-strings", "models",
        "prompts that are not a list of strings: one string, `7`, `None`, or an empty "
        "list",
        "`TypeError` for a single string (wrap it in a list) and for a value that is not "
        "a string (named); `ValueError` for no prompts."),
    Row("generate-prompts", "models",
        "to a text-conditioned model's `generate()`: `prompts=[]`, prompts that are not "
        "strings, `prompt=` given a list, more or fewer prompts than `num_samples`, a "
        "`negative_prompt` without guidance; `prompt=` to a model not conditioned on text",
        "`ValueError` or `TypeError` naming the problem; for a model without text, a "
        "`TypeError` naming the model that takes prompts (`TextDiffusion`)."),
    Row("clip-guidance-inputs", "models",
        "to `kgen.clip_guidance.search_latents` or `rerank`: a model that is not a GAN (or "
        "not a CLIP model as the judge), a GAN whose samples differ in shape from the CLIP "
        "model's images, a prompt that is not one string or is empty, latents of the wrong "
        "shape or not finite, labels missing for a conditional GAN or given to another, "
        "`top` beyond the images given, a learning rate that makes the search diverge",
        "`TypeError` or `ValueError` naming the problem and the fix (`rerank` for models "
        "that are not GANs; a CLIP model of the GAN's image shape); a diverged search "
        "raises `FloatingPointError` (lower `learning_rate`) instead of returning NaN."),
    Row("generate-sampler-options", "models",
        "a diffusion sampler with options it does not have (`eta=` to DPM-Solver++ or "
        "DDPM, `steps=` beyond the model's timesteps) or a task it cannot do (DPM-Solver++ "
        "asked to inpaint)",
        "`ValueError` naming the option or the task and the sampler that has it "
        "(`sampler='ddim'`)."),
    Row("sampler-clips-latents", "models",
        "a sampler built with `clip_denoised=True` for a `TextDiffusion` in an autoencoder's "
        "latent space (whose unit-variance latents are not bounded by 1), or a "
        "`clip_denoised` that is not True, False or None",
        "`ValueError` saying that clipping to [-1, 1] changes the latents and to leave "
        "`clip_denoised` unset (the model decides: images are clipped, latents are not) or "
        "pass False; `TypeError` for a value that is not a bool."),
    # ------------------------------------------------------------- networks
    Row("own-sigmoid-gan", "networks",
        "a GAN discriminator ending in a sigmoid (kgen's losses take logits), or a "
        "generator ending in a sigmoid (it can never produce [-1, 0))",
        "`ValueError` naming the network and the fix (a linear output, tanh for images)."),
    Row("own-decoder-output", "networks",
        "a VAE decoder ending in a sigmoid (read as Bernoulli logits), or an output that "
        "does not match the likelihood or reconstruction loss",
        "`ValueError` naming what kgen reads from the decoder's output."),
    Row("own-conditional-networks", "networks",
        "a ConditionalGAN generator or discriminator with one input",
        "`ValueError`: they take two inputs, `[latents, labels]` and `[samples, labels]`."),
    Row("own-vae-encoder-triple", "networks",
        "a VAE encoder returning `(z_mean, z_log_var, z)` (keras-io's)",
        "Taken: kgen reads `z_mean` and `z_log_var` and draws `z` itself."),
    Row("own-diffusion-timesteps", "networks",
        "a diffusion network built for noise levels or `t / T` rather than integer steps",
        "`timestep_input=` passes the convention it was built for (integer `t`, `t / T`, "
        "the noise level); the docs say what the network receives."),
    Row("own-network-moving-average", "networks",
        "a network the moving average (EMA) cannot copy (a custom layer without "
        "`get_config`, a subclassed model)",
        "`ValueError` naming the layer and `ema=None`; `Lambda` layers are copied."),
    Row("own-integer-prior", "networks",
        "`PixelCNN(inputs=\"levels\")` with a network that takes integer codes",
        "The network receives the integer levels as they are, not values in [-1, 1]."),
    Row("own-network-traced", "networks",
        "on PyTorch, a network that sampling (or diffusion training) cannot replay from "
        "a trace of one call (it reads tensor values into NumPy, draws random numbers, "
        "assigns variables, or its replay differs from its own output)",
        "A warning names the network, the mode (inference or training) and why; it runs "
        "eagerly in that mode from then on (right, slower). Other networks are replayed, "
        "their outputs checked on the first two calls of each input shape "
        "(`kgen.backend.replayed_network`)."),
    # ------------------------------------------------------------------ cli
    Row("cli-option-minimum", "cli",
        "`--latent-dim 0`, `--epochs 0` (an integer option below its minimum)",
        "The option and its minimum are named."),
    Row("cli-seed", "cli", "`--seed -1` (or 2**31 and more)",
        "The range of a seed, `0..2147483647`, is named."),
    Row("cli-unknown-data", "cli", "`--data NAME` that is no data source",
        "The bundled names, `tfds:NAME[:SPLIT]` and `folder:PATH` are listed."),
    Row("cli-batch-larger-than-data", "cli", "`--batch-size` larger than the data",
        "The number of examples and the largest batch size that works are named."),
    Row("cli-out-under-a-file", "cli",
        "`--out` of `kgen train` or `kgen generate`, or the folder of `kgen export`, under "
        "a regular file (or in a folder that cannot be written)",
        "The file (or folder) in the way is named, before any work is done."),
    Row("cli-out-jpeg", "cli", "`kgen generate --out grid.jpg`",
        "A JPEG file: the grid is written in the format of its extension."),
    Row("cli-evaluate-l1-without-truth", "cli",
        "`kgen evaluate RUN --metric l1` of a CycleGAN on a folder of unpaired images",
        "Refused: the translation error needs a target per input, paired data or a bundled "
        "unpaired set whose true translation is known (they are named)."),
    Row("cli-precision", "cli",
        "`--precision` (or `train.precision` of a configuration) other than `float32`, "
        "`mixed_bfloat16` or `mixed_float16`",
        "The three are named (the flag's choices, or `train.precision (--precision) must "
        "be one of ...`)."),
    Row("cli-no-samples", "cli",
        "`kgen generate` or `kgen export` of a run of a family that draws no samples "
        "(CLIP)",
        "One line that says it draws no samples and how to use the checkpoint; no file is "
        "written."),
    Row("cli-rerank", "cli",
        "`kgen generate --rerank RUN` with a run that is not CLIP, without `--prompt` or "
        "`--rerank-prompt`, with samples of another shape than the CLIP model's, with "
        "`--inputs`/`--images`/a `--labels` list, or `--candidates`/`--rerank-prompt` "
        "without `--rerank`",
        "One line that names the problem (the class the run holds, the missing text, both "
        "shapes, the conditions that fix the count, the flag that needs `--rerank`); no "
        "file is written."),
)


def covers(*ids):
    """Marks a test as checking the catalogue rows ``ids`` (the decorated test is returned
    as it is; tests/test_checks_catalogue.py reads the marks from the sources)."""
    known = {row.id for row in ROWS}
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise KeyError(f"Not rows of the catalogue: {unknown}")

    def mark(test):
        test.catalogue_rows = ids
        return test

    return mark


def _cell(text):
    return text.replace("|", "\\|")


def render():
    """The page docs/guides/checks.md."""
    lines = [
        "# What kgen checks",
        "",
        "kgen turns each mistake below into a clear error that names the problem and its "
        "fix, or into a documented conversion. The rule for images is one for the whole "
        "package (`kgen.checks`): uint8 images are converted by `x / 127.5 - 1` (uint16 "
        "by `x / 32767.5 - 1`) wherever kgen takes images, float images must lie in "
        "[-1, 1], and float images that all lie in [0, 1] warn.",
        "",
        "Every row is checked by a test on the TensorFlow, JAX and PyTorch backends; "
        "this page is written from the tests' catalogue "
        "(`tests/checks_catalogue.py`), and a test checks that it lists exactly those "
        "rows.",
        "",
    ]
    for key, (title, introduction) in SECTIONS.items():
        rows = [row for row in ROWS if row.where == key]
        lines += [f"## {title}", ""]
        if introduction:
            lines += [introduction, ""]
        lines += ["| What you pass | What kgen says or does |", "| --- | --- |"]
        lines += [f"| {_cell(row.given)} | {_cell(row.outcome)} |" for row in rows]
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(render(), end="")
