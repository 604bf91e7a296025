"""The on-disk cache: atomic writes, checksums, and what happens to corrupt entries."""

import json
import warnings

import numpy as np
import pytest

from rdvae import cache
from rdvae.data import tetrominoes


def _builder(array, counter):
    def build(tmp_path):
        counter.append(1)
        np.save(tmp_path, array)

    return build


def test_build_once_then_load(tmp_path):
    built = []
    data = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    first = cache.load_or_build(tmp_path, "entry", _builder(data, built))
    second = cache.load_or_build(tmp_path, "entry", _builder(data, built))
    assert len(built) == 1
    np.testing.assert_array_equal(first, data)
    np.testing.assert_array_equal(second, data)
    assert isinstance(second, np.memmap)
    assert not list(tmp_path.glob(".*tmp*"))  # no temporary files left behind


@pytest.mark.parametrize("damage", ["flip", "truncate", "drop_meta", "garble_meta", "drop_array"])
def test_corrupt_entry_is_reported_and_rebuilt(tmp_path, damage):
    built = []
    data = np.random.default_rng(0).random((50, 7)).astype(np.float32)
    cache.load_or_build(tmp_path, "entry", _builder(data, built))
    array_path, meta_path = tmp_path / "entry.npy", tmp_path / "entry.json"
    if damage == "flip":
        raw = bytearray(array_path.read_bytes())
        raw[-5] ^= 0xFF
        array_path.write_bytes(bytes(raw))
    elif damage == "truncate":
        array_path.write_bytes(array_path.read_bytes()[:-100])
    elif damage == "drop_meta":
        meta_path.unlink()
    elif damage == "garble_meta":
        meta_path.write_text("{not json")
    else:
        array_path.unlink()
    with pytest.warns(cache.CorruptCacheWarning, match="entry"):
        again = cache.load_or_build(tmp_path, "entry", _builder(data, built))
    assert len(built) == 2
    np.testing.assert_array_equal(again, data)
    assert cache.check_entry(tmp_path, "entry") is None


def test_failed_build_leaves_no_entry(tmp_path):
    def broken(tmp):
        np.save(tmp, np.zeros(3))
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cache.load_or_build(tmp_path, "entry", broken)
    assert cache.check_entry(tmp_path, "entry") == "missing"
    assert not list(tmp_path.iterdir())


def test_metadata_records_shape_dtype_and_provenance(tmp_path):
    cache.write_entry(tmp_path, "x", np.zeros((3, 2), np.float32), {"seed": 1})
    meta = json.loads((tmp_path / "x.json").read_text())
    assert meta["shape"] == [3, 2] and meta["dtype"] == "float32" and meta["provenance"] == {"seed": 1}


def test_dataset_cache_detects_corruption_and_rerenders(tmp_path, monkeypatch):
    # The full-dataset path, on the first 300 factor tuples so that it runs in seconds.
    monkeypatch.setenv("RDVAE_CACHE", str(tmp_path))
    subset = tetrominoes.factors()[:300].copy()
    monkeypatch.setattr(tetrominoes, "factors", lambda: subset)
    monkeypatch.setattr(tetrominoes, "_loaded", {})
    images = np.array(tetrominoes.load_images(progress=False, workers=2))
    np.testing.assert_array_equal(images, tetrominoes.render(subset))
    assert tetrominoes.full_cache_ready()
    np.testing.assert_array_equal(tetrominoes.images([5, 2]), images[[5, 2]])

    npy = next(tmp_path.glob("tetrominoes-full-*.npy"))
    raw = bytearray(npy.read_bytes())
    raw[len(raw) // 2] ^= 0x40
    npy.write_bytes(bytes(raw))
    monkeypatch.setattr(tetrominoes, "_loaded", {})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = np.array(tetrominoes.load_images(progress=False, workers=2))
    assert any(issubclass(w.category, cache.CorruptCacheWarning) for w in caught)
    np.testing.assert_array_equal(again, images)
