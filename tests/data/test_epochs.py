"""Tests for the deterministic epoch order: resumable epochs, flips, set_epoch."""

import keras
import numpy as np
import pytest

from kgen import data
from kgen.data.epochs import EpochOrder


def _indexed(n, size=2):
    """uint8 images whose pixels are their index; the right column is 255 (to see flips)."""
    x = np.broadcast_to(np.arange(n, dtype=np.uint8)[:, None, None, None], (n, size, size, 1))
    x = x.copy()
    x[:, :, -1] = 255
    return x


def _ids(batch):
    return np.round((np.asarray(batch)[:, 0, 0, 0] + 1) * 127.5).astype(int)


def _take(dataset, count):
    iterator = iter(dataset)
    return [next(iterator) for _ in range(count)]


# ---------------------------------------------------------------- EpochOrder
def test_each_epoch_is_a_pure_function_of_seed_and_epoch():
    order = EpochOrder((10,), batch_size=4, seed=5)
    assert order.length == 8 and order.steps == 2
    (index, flip), = order.numpy(3)
    assert len(set(index.tolist())) == 8 and index.max() < 10 and not flip.any()
    (again, _), = EpochOrder((10,), batch_size=4, seed=5).numpy(3)
    np.testing.assert_array_equal(index, again)
    others = [EpochOrder((10,), 4, seed=5).numpy(e)[0][0] for e in (2, 4)]
    others.append(EpochOrder((10,), 4, seed=6).numpy(3)[0][0])
    assert all(not np.array_equal(index, other) for other in others)


def test_flips_depend_on_seed_epoch_and_index_only():
    order = EpochOrder((64,), batch_size=64, seed=1, flip=True)
    (index, flip), = order.numpy(0)
    assert 16 < flip.sum() < 48
    by_example = dict(zip(index.tolist(), flip.tolist()))
    # The same epoch under another batch size (another order length) flips the same examples.
    (index_2, flip_2), = EpochOrder((64,), batch_size=8, seed=1, flip=True).numpy(0)
    assert all(by_example[i] == f for i, f in zip(index_2.tolist(), flip_2.tolist()))
    (_, next_epoch), = order.numpy(1)
    assert not np.array_equal(flip, next_epoch)


def test_the_smaller_domain_cycles_through_whole_permutations():
    order = EpochOrder((10, 4), batch_size=5, seed=0)
    assert order.length == 10
    sequence_a, sequence_b = [], []
    for epoch in range(6):
        (a, _), (b, _) = order.numpy(epoch)
        assert sorted(a.tolist()) == list(range(10))
        sequence_a.append(a)
        sequence_b.extend(b.tolist())
    passes = [sequence_b[i:i + 4] for i in range(0, len(sequence_b), 4)]
    assert len(passes) == 15 and all(sorted(p) == [0, 1, 2, 3] for p in passes)
    assert len({tuple(p) for p in passes}) > 3  # reshuffled from pass to pass
    # An epoch in the middle of a pass gives the same examples whatever came before.
    (_, _), (b_4, _) = EpochOrder((10, 4), batch_size=5, seed=0).numpy(4)
    np.testing.assert_array_equal(b_4, sequence_b[40:50])


# ---------------------------------------------------------------- DataSource.dataset
def test_a_resumed_dataset_gives_the_batches_of_the_uninterrupted_run():
    source = data.open_source("digits", split="test", labels=True)
    steps = source.steps_per_epoch(50)  # 7 batches, 10 digits of each epoch left out
    full = _take(source.dataset(50, seed=7, flip=True), 4 * steps)
    resumed = _take(source.dataset(50, seed=7, first_epoch=2, flip=True), 2 * steps)
    for (x, y), (x_resumed, y_resumed) in zip(full[2 * steps:], resumed):
        np.testing.assert_array_equal(x, x_resumed)
        np.testing.assert_array_equal(y, y_resumed)
    one_epoch = list(source.dataset(50, seed=7, first_epoch=3, flip=True, repeat=False))
    assert len(one_epoch) == steps
    for (x, _), (x_one, _) in zip(full[3 * steps:], one_epoch):
        np.testing.assert_array_equal(x, x_one)
    # Epochs differ from each other and with the seed.
    first = np.concatenate([y for _, y in full[:steps]])
    second = np.concatenate([y for _, y in full[steps:2 * steps]])
    assert not np.array_equal(first, second)
    other_seed = _take(source.dataset(50, seed=8, flip=True), 1)[0][1]
    assert not np.array_equal(first[:50], other_seed)


def test_an_epoch_holds_every_example_once_minus_the_remainder():
    source = data.open_source("digits", split="test")  # 360 digits
    batches = list(source.dataset(64, seed=0, repeat=False))
    assert len(batches) == source.steps_per_epoch(64) == 5
    rows = np.concatenate([np.asarray(b).reshape(64, -1) for b in batches])
    digits = data.to_data_space(data.load("digits", split="test")).reshape(360, -1)
    matches = [int(np.argmin(np.abs(digits - row).sum(axis=1))) for row in rows]
    assert len(set(matches)) == 320


def test_flips_are_deterministic_mirror_images():
    source = data.open_source("digits", split="test")
    plain = np.concatenate(list(source.dataset(60, seed=2, repeat=False)))
    flipped = np.concatenate(list(source.dataset(60, seed=2, flip=True, repeat=False)))
    again = np.concatenate(list(source.dataset(60, seed=2, flip=True, repeat=False)))
    np.testing.assert_array_equal(flipped, again)
    mirrored = np.array([np.array_equal(f, p[:, ::-1]) and not np.array_equal(f, p)
                         for f, p in zip(flipped, plain)])
    same = np.array([np.array_equal(f, p) for f, p in zip(flipped, plain)])
    assert np.all(mirrored | same)
    assert 0.3 < mirrored.mean() < 0.7


def test_each_pass_of_a_one_epoch_dataset_is_the_next_epoch():
    source = data.open_source("digits", split="test")
    ds = source.dataset(120, seed=1, first_epoch=4, repeat=False)
    passes = [np.concatenate(list(ds)) for _ in range(2)]
    reference = np.concatenate(_take(source.dataset(120, seed=1, first_epoch=4), 6))
    np.testing.assert_array_equal(passes[0], reference[:360])
    np.testing.assert_array_equal(passes[1], reference[360:])
    data.set_epoch(ds, 4)
    np.testing.assert_array_equal(np.concatenate(list(ds)), passes[0])


# ---------------------------------------------------------------- kgen.data.images and set_epoch
def test_images_order_is_a_function_of_seed_and_epoch():
    x = _indexed(40)
    ds = data.images(x, batch_size=10, seed=3)
    passes = [np.concatenate([_ids(b) for b in ds]) for _ in range(3)]
    assert all(sorted(p) == list(range(40)) for p in passes)
    assert not np.array_equal(passes[0], passes[1])
    fresh = data.images(x, batch_size=10, seed=3)
    data.set_epoch(fresh, 2)  # a run restored at epoch 2
    np.testing.assert_array_equal(np.concatenate([_ids(b) for b in fresh]), passes[2])
    data.set_epoch(fresh, 0)
    np.testing.assert_array_equal(np.concatenate([_ids(b) for b in fresh]), passes[0])


@pytest.mark.parametrize("make", ["paired", "unpaired"])
def test_translation_pipelines_follow_set_epoch(make):
    a, b = _indexed(30), _indexed(20)
    build = data.paired_images if make == "paired" else data.unpaired_images
    args = (a, _indexed(30)) if make == "paired" else (a, b)
    ds = build(*args, batch_size=10, seed=0)
    passes = [[(_ids(x).tolist(), _ids(y).tolist()) for x, y in ds] for _ in range(2)]
    assert passes[0] != passes[1]
    fresh = build(*args, batch_size=10, seed=0)
    data.set_epoch(fresh, 1)
    assert [(_ids(x).tolist(), _ids(y).tolist()) for x, y in fresh] == passes[1]


def test_set_epoch_errors():
    ds = data.images(_indexed(8), batch_size=4, seed=0)
    with pytest.raises(ValueError, match="epoch must be an integer of at least 0"):
        data.set_epoch(ds, -1)
    with pytest.raises(TypeError, match="epoch must be an integer"):
        data.set_epoch(ds, 1.0)
    with pytest.raises(ValueError, match="no epoch to set.*first_epoch"):
        data.set_epoch(ds.map(lambda x: x), 1)


def test_fit_restarted_at_an_epoch_sees_that_epochs_order():
    keras.backend.clear_session()
    x, labels = _indexed(32), np.arange(32) % 4
    ds = data.images(x, batch_size=8, labels=labels, seed=11)
    model = keras.Sequential([keras.Input((2, 2, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(4)])
    model.compile(optimizer="sgd",
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    follow = keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: data.set_epoch(ds, epoch))
    model.fit(ds, epochs=3, initial_epoch=2, callbacks=[follow], verbose=0)
    # fit ran epoch 2 only, in epoch 2's order: the next pass is epoch 3.
    after = np.concatenate([_ids(b) for b, _ in ds])
    reference = data.images(x, batch_size=8, labels=labels, seed=11)
    data.set_epoch(reference, 3)
    np.testing.assert_array_equal(after, np.concatenate([_ids(b) for b, _ in reference]))
