#!/usr/bin/env python
"""One epoch streamed from a folder of PNGs against the same images held in memory.

The script writes ``--count`` (10,000) PNG files of ``--size`` x ``--size`` (28x28)
grey images into a temporary folder: the scikit-learn digits, enlarged bilinearly and
repeated, so that the files compress like real small images. It then times one epoch of
batches of ``--batch-size`` (64) images in data space from

- ``stream``: ``kgen.data.open_source("folder:...").dataset(batch, repeat=False)``:
  the files are read and decoded in a parallel tf.data pipeline as batches are needed;
- ``memory``: ``kgen.data.images(x, batch)`` on the same images as one uint8 array
  (``cache=True``: scaled to float32 once, batches gathered from memory);

each the best of ``--repeats`` (3) epochs, after one warm-up epoch, and prints a table with
the time per epoch, the images per second and the ratio to the in-memory pipeline. The
check pass that ``open_source`` makes over the folder before training (it decodes each
file once) is timed on its own.

Usage::

    python benchmarks/data_stream.py
    python benchmarks/data_stream.py --count 2000 --repeats 1      # a quick run
    python benchmarks/data_stream.py --folder /tmp/pngs --keep     # keep the files

The numbers depend on the disk cache (the files are just written, so they are read from
memory) and on the number of CPU cores (``PARALLEL_READS`` decodes in parallel).
"""

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def write_folder(folder, count, size):
    """``count`` PNG files of enlarged digits in ``folder``; returns the uint8 images."""
    import numpy as np
    from PIL import Image

    import kgen

    digits = kgen.data.load("digits")[..., 0]
    tiles = np.stack([np.asarray(Image.fromarray(d).resize((size, size), Image.Resampling.BILINEAR))
                      for d in digits])
    images = tiles[np.arange(count) % len(tiles)]
    os.makedirs(folder, exist_ok=True)
    for i, image in enumerate(images):
        Image.fromarray(image).save(os.path.join(folder, f"{i:06d}.png"))
    return images[..., None]


def epoch_seconds(dataset):
    """Seconds to pull every batch of one pass over ``dataset``, and the image count."""
    start = time.perf_counter()
    count = 0
    for batch in dataset:
        count += int(batch.shape[0])
    return time.perf_counter() - start, count


def best_epoch(dataset, repeats):
    epoch_seconds(dataset)  # warm-up: tracing, thread pools, disk cache
    results = [epoch_seconds(dataset) for _ in range(repeats)]
    return min(results)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10000)
    parser.add_argument("--size", type=int, default=28)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--folder", default=None, help="where to write the PNGs (a temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the folder afterwards")
    args = parser.parse_args(argv)

    import tensorflow as tf

    import kgen
    from kgen.data import folders

    folder = args.folder or tempfile.mkdtemp(prefix="kgen_stream_", dir="/tmp")
    try:
        start = time.perf_counter()
        images = write_folder(folder, args.count, args.size)
        written = time.perf_counter() - start
        size_mb = sum(os.path.getsize(os.path.join(folder, n)) for n in os.listdir(folder)) / 1e6

        start = time.perf_counter()
        source = kgen.data.open_source(f"folder:{folder}")
        check = time.perf_counter() - start
        stream = source.dataset(args.batch_size, seed=0, repeat=False)
        stream_s, stream_n = best_epoch(stream, args.repeats)

        memory = kgen.data.images(images, batch_size=args.batch_size, seed=0)
        memory_s, memory_n = best_epoch(memory, args.repeats)
        assert stream_n == memory_n == args.count // args.batch_size * args.batch_size

        print(f"{args.count} PNG files of {args.size}x{args.size}x1 ({size_mb:.1f} MB, written in "
              f"{written:.1f} s), batch {args.batch_size}, {stream_n} images per epoch, best of "
              f"{args.repeats} epochs after one warm-up")
        print()
        print("| pipeline | s / epoch | images / s | ratio to memory |")
        print("|---|---:|---:|---:|")
        for name, seconds, count in (("memory: kgen.data.images", memory_s, memory_n),
                                     ("stream: open_source(folder:).dataset", stream_s,
                                      stream_n)):
            print(f"| {name} | {seconds:.3f} | {count / seconds:,.0f} | "
                  f"{seconds / memory_s:.1f}x |")
        print()
        print(f"check pass of open_source (each file decoded once): {check:.2f} s "
              f"({args.count / check:,.0f} files / s)")
        print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, load average "
              f"{os.getloadavg()[0]:.1f}; PARALLEL_READS={folders.PARALLEL_READS}; "
              f"tensorflow {tf.__version__}, python {platform.python_version()}")
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
