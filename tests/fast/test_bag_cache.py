"""The bag-of-words cache: a repeated fit/evaluate/predict on the same ids counts nothing, a changed array
is never served a stale bag, and results are bitwise those without the cache (the same computation)."""

import copy

import numpy as np
import pytest

import npnet
from npnet import layers, optimizers
from npnet.fast import bag_cache as bag_cache_module
from npnet.fast.bag_cache import BagCache, content_digest
from npnet.fast.embedding_pool import BagOfWords
from npnet.fast.plan import bag_cache
from npnet.fast.threads import Workers
from tests.fast.test_fused_path import VOCAB, zipf_data


def model(cache_entries=4):
    m = npnet.Sequential(
        [
            layers.Embedding(VOCAB, 8),
            layers.GlobalAveragePooling1D(),
            layers.Dense(4, activation="relu"),
            layers.Dense(1, activation="sigmoid"),
        ],
        seed=5,
    )
    m.compile(optimizer=optimizers.Adam(learning_rate=0.01), metrics=["accuracy"])
    bag_cache(m).max_entries = cache_entries
    return m


def loop_of_fits(m, x, y, xv, yv, calls=3):
    """The notebook pattern the cache is for: fit(epochs=1) in a loop, then evaluate and predict."""
    fits = [m.fit(x, y, epochs=1, batch_size=32, validation_data=(xv, yv), verbose=0) for _ in range(calls)]
    histories = [h.history for h in fits]
    return histories, m.evaluate(xv, yv), m.predict(xv), m.get_weights()


def test_repeated_calls_build_each_bag_once_and_give_bitwise_the_uncached_results():
    x, y = zipf_data(200)
    xv, yv = zipf_data(80, seed=1)
    cached, uncached = model(), model(cache_entries=0)
    with_cache, without = loop_of_fits(cached, x, y, xv, yv), loop_of_fits(uncached, x, y, xv, yv)
    # x and xv built by the first fit; hits: two per later fit, then evaluate and predict (on xv)
    assert bag_cache(cached).builds == 2 and bag_cache(cached).hits == 2 * 2 + 2
    assert bag_cache(uncached).builds == 3 * 2 + 2 and len(bag_cache(uncached)) == 0
    assert with_cache[0] == without[0] and with_cache[1] == without[1]
    np.testing.assert_array_equal(with_cache[2], without[2])
    for a, b in zip(with_cache[3], without[3], strict=True):
        np.testing.assert_array_equal(a, b)


def test_an_array_changed_in_place_is_never_served_its_old_bag():
    x, _ = zipf_data(200)
    m = model()
    m.predict(x)
    x[7, 3] = (x[7, 3] + 1) % VOCAB  # the same object, the same shape, one id different
    assert m.predict(x).shape == (200, 1) and bag_cache(m).builds == 2 and bag_cache(m).hits == 0
    fresh = model(cache_entries=0)
    fresh.set_weights(m.get_weights())
    np.testing.assert_array_equal(m.predict(x), fresh.predict(x))  # the changed data's own bag


def test_an_equal_copy_hits_and_the_key_holds_dtype_shape_vocab_and_mask():
    x, _ = zipf_data(50)
    cache = BagCache()
    bag = cache.get(x, VOCAB)
    assert cache.get(x.copy(), VOCAB) is bag and cache.hits == 1
    assert cache.get(np.asfortranarray(x), VOCAB) is bag  # the same ids in another memory order
    assert cache.get(x.astype(np.int64), VOCAB) is not bag  # same values, other bytes
    assert cache.get(x.reshape(25, -1), VOCAB) is not bag  # same bytes, other shape
    assert cache.get(x, VOCAB + 1) is not bag
    assert cache.get(x, VOCAB, mask_zero=True) is not bag
    assert cache.builds == 5


def test_cached_bags_are_read_only_and_equal_to_a_fresh_build():
    x, _ = zipf_data(60)
    bag, fresh = BagCache().get(x, VOCAB, mask_zero=True), BagOfWords.from_ids(x, VOCAB, mask_zero=True)
    for name in ("head_ids", "head_counts", "tail_ptr", "tail_ids", "scale"):
        np.testing.assert_array_equal(getattr(bag, name), getattr(fresh, name))
        with pytest.raises(ValueError, match="read-only"):
            getattr(bag, name)[...] = 0


def test_the_cache_is_bounded_least_recently_used_first():
    arrays = [zipf_data(40, seed=s)[0] for s in range(4)]
    cache = BagCache(max_entries=2)
    first = cache.get(arrays[0], VOCAB)
    cache.get(arrays[1], VOCAB)
    assert cache.get(arrays[0], VOCAB) is first  # now the most recent
    cache.get(arrays[2], VOCAB)  # evicts arrays[1]
    assert len(cache) == 2 and cache.get(arrays[0], VOCAB) is first
    builds = cache.builds
    cache.get(arrays[1], VOCAB)
    assert cache.builds == builds + 1
    small = BagCache(max_bytes=cache.nbytes // 4)  # smaller than any one of these bags
    assert small.get(arrays[3], VOCAB) is not small.get(arrays[3], VOCAB) and len(small) == 0
    with pytest.raises(ValueError, match="max_entries"):
        BagCache(max_entries=-1)


def test_the_digest_is_the_same_for_every_thread_count_and_changes_with_any_byte(monkeypatch):
    monkeypatch.setattr(bag_cache_module, "_PIECE_BYTES", 1000)  # many pieces from a small array
    x, _ = zipf_data(100)
    with Workers(2) as two, Workers(3) as three:
        digests = {content_digest(x), content_digest(x, two), content_digest(x, three)}
        assert len(digests) == 1
        for flat in (0, 999 // 4, x.size - 1):
            changed = x.copy()
            changed.flat[flat] += 1
            assert content_digest(changed, two) not in digests


def test_a_deep_copy_of_a_model_starts_with_an_empty_cache():
    x, _ = zipf_data(40)
    m = model()
    m.predict(x)
    assert len(bag_cache(m)) == 1 and len(bag_cache(copy.deepcopy(m))) == 0
