"""Dataset readers on fixture files written here in each real format (nothing is downloaded)."""

import gzip
import hashlib

import numpy as np
import pytest

from rdvae.data import images as I


def write_idx(path, array: np.ndarray, compress: bool):
    code = {np.dtype("uint8"): 0x08, np.dtype(">i4"): 0x0C}[array.dtype]
    header = bytes([0, 0, code, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    raw = header + array.tobytes()
    (gzip.open if compress else open)(path, "wb").write(raw)


def mnist_folder(folder, n=(6, 4), compress=True):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for part, count in zip(("train", "t10k"), n, strict=True):
        suffix = ".gz" if compress else ""
        write_idx(
            folder / f"{part}-images-idx3-ubyte{suffix}",
            rng.integers(0, 256, (count, 28, 28), np.uint8),
            compress,
        )
        write_idx(
            folder / f"{part}-labels-idx1-ubyte{suffix}",
            rng.integers(0, 10, count).astype(np.uint8),
            compress,
        )
    return folder


@pytest.mark.parametrize("compress", [True, False])
def test_mnist_idx_files_gzipped_or_not(tmp_path, compress):
    folder = mnist_folder(tmp_path / "mnist", compress=compress)
    data = I.read_mnist_like(folder, "mnist", verify_checksums=False, counts=(6, 4))
    assert data.images.shape == (10, 1, 32, 32) and data.images.dtype == np.float32
    assert data.images.min() >= 0 and data.images.max() <= 1
    assert np.all(data.images[:, :, :2] == 0) and np.all(data.images[:, :, :, -2:] == 0)  # 2 px padding
    raw = I.read_idx(folder / f"train-images-idx3-ubyte{'.gz' if compress else ''}")
    np.testing.assert_allclose(data.images[:6, 0, 2:30, 2:30], raw / 255)
    assert data.labels.shape == (10, 1)


def test_published_checksum_is_enforced_for_gz_files(tmp_path):
    folder = mnist_folder(tmp_path / "fashion-mnist")
    with pytest.raises(I.DatasetFileError, match="train-images-idx3-ubyte.gz: MD5 .* published 8d4fb7e6"):
        I.read_mnist_like(folder, "fashion-mnist", counts=(6, 4))


def test_real_sizes_are_expected_by_default(tmp_path):
    folder = mnist_folder(tmp_path / "mnist")
    with pytest.raises(I.DatasetFileError, match=r"shape \(6, 28, 28\), expected \(60000, 28, 28\)"):
        I.read_mnist_like(folder, "mnist", verify_checksums=False)


def test_truncated_and_corrupt_idx_files_say_so(tmp_path):
    folder = mnist_folder(tmp_path / "mnist", compress=False)
    path = folder / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(I.DatasetFileError, match="train-images-idx3-ubyte: .*truncated"):
        I.read_mnist_like(folder, "mnist", verify_checksums=False, counts=(6, 4))
    path.write_bytes(b"\x12\x34\x56\x78" + b"\x00" * 100)
    with pytest.raises(I.DatasetFileError, match="bad IDX magic number 12345678.*yann.lecun.com"):
        I.read_idx(path)
    gz = tmp_path / "broken.gz"
    gz.write_bytes(gzip.compress(b"\x00\x00\x08\x01" + (5).to_bytes(4, "big") + b"12345")[:-6])
    with pytest.raises(I.DatasetFileError, match="broken.gz: cannot be read"):
        I.read_idx(gz)


def test_missing_file_names_where_to_get_it(tmp_path):
    (tmp_path / "mnist").mkdir()
    with pytest.raises(I.DatasetFileError, match=r"train-images-idx3-ubyte: missing.*yann.lecun.com"):
        I.read_mnist_like(tmp_path / "mnist", "mnist")


def write_norb(path, array: np.ndarray):
    magic = {np.dtype("uint8"): 0x1E3D4C55, np.dtype("int32"): 0x1E3D4C54}[array.dtype]
    dims = list(array.shape) + [1] * max(0, 3 - array.ndim)
    header = b"".join(int(v).to_bytes(4, "little") for v in [magic, array.ndim, *dims])
    path.write_bytes(header + array.astype(array.dtype.newbyteorder("<")).tobytes())


def norb_folder(folder, n=3):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    for prefix in I.NORB_PREFIXES:
        write_norb(folder / f"{prefix}-dat.mat", rng.integers(0, 256, (n, 2, 96, 96), dtype=np.uint8))
        write_norb(folder / f"{prefix}-cat.mat", rng.integers(0, 5, n).astype(np.int32))
        write_norb(folder / f"{prefix}-info.mat", rng.integers(0, 9, (n, 4)).astype(np.int32))
    return folder


def test_smallnorb_binary_matrices(tmp_path):
    folder = norb_folder(tmp_path / "smallnorb")
    data = I.read_smallnorb(folder, per_part=3)
    assert data.images.shape == (6, 1, 32, 32) and data.labels.shape == (6, 5)
    raw = I.read_norb_matrix(folder / f"{I.NORB_PREFIXES[0]}-dat.mat", (3, 2, 96, 96))
    expected = raw[0, 0, :3, :3].astype(np.float64).mean() / 255  # camera 0, top-left 3x3 block
    assert data.images[0, 0, 0, 0] == pytest.approx(expected, rel=1e-6)
    with pytest.raises(
        I.DatasetFileError, match=r"holds shape \(3, 2, 96, 96\), expected \(24300, 2, 96, 96\)"
    ):
        I.read_smallnorb(folder)
    path = folder / f"{I.NORB_PREFIXES[1]}-cat.mat"
    path.write_bytes(path.read_bytes()[:-2])
    with pytest.raises(I.DatasetFileError, match="testing-cat.mat: .*truncated"):
        I.read_smallnorb(folder, per_part=3)


def test_3dshapes_hdf5(tmp_path):
    import h5py

    folder = tmp_path / "3dshapes"
    folder.mkdir()
    rng = np.random.default_rng(2)
    with h5py.File(folder / "3dshapes.h5", "w") as handle:
        handle["images"] = rng.integers(0, 256, (10, 64, 64, 3), dtype=np.uint8)
        handle["labels"] = rng.random((10, 6))
    data = I.read_3dshapes(folder, max_images=None)
    assert data.images.shape == (10, 3, 32, 32) and data.labels.shape == (10, 6)
    assert len(I.read_3dshapes(folder, max_images=4).images) == 4
    (folder / "3dshapes.h5").write_bytes(b"not hdf5 at all")
    with pytest.raises(I.DatasetFileError, match="3dshapes.h5: is not a readable HDF5 file"):
        I.read_3dshapes(folder)


def test_dsprites_npz(tmp_path):
    folder = tmp_path / "dsprites"
    folder.mkdir()
    rng = np.random.default_rng(3)
    np.savez(
        folder / I.DSPRITES_FILE,
        imgs=rng.integers(0, 2, (8, 64, 64), dtype=np.uint8),
        latents_values=rng.random((8, 6)),
    )
    data = I.read_dsprites(folder, max_images=None)
    assert data.images.shape == (8, 1, 32, 32)
    assert set(np.unique(data.images * 4)) <= {0, 1, 2, 3, 4}  # 2x2 averages of binary pixels
    np.savez(
        folder / I.DSPRITES_FILE, imgs=np.full((2, 64, 64), 7, np.uint8), latents_values=np.zeros((2, 6))
    )
    with pytest.raises(I.DatasetFileError, match=r"expected \(N, 64, 64\) in \{0, 1\}"):
        I.read_dsprites(folder)


def test_digits_are_always_available_and_the_book_lists_the_rest(tmp_path):
    digits = I.load("digits")
    assert digits.images.shape == (1797, 1, 32, 32) and digits.images.max() == 1.0
    mnist_folder(tmp_path / "mnist")  # not the published files: listed as unusable, with the reason
    status = I.availability(tmp_path)
    assert status["digits"].startswith("available")
    assert status["mnist"].startswith("unusable") and "differs from the published" in status["mnist"]
    assert status["smallnorb"].startswith("missing") and str(tmp_path / "smallnorb") in status["smallnorb"]


def test_unknown_dataset_lists_the_valid_ones():
    with pytest.raises(ValueError, match="digits, mnist, fashion-mnist, smallnorb, 3dshapes, dsprites"):
        I.load("cifar")


def test_md5_helper_matches_hashlib(tmp_path):
    path = tmp_path / "x"
    path.write_bytes(b"abc")
    assert I._md5(path) == hashlib.md5(b"abc").hexdigest()


def test_other_datasets_have_random_cv_splits():
    from rdvae.data import sources

    train, test = sources.get_split("digits", "cv-0.1")
    assert (len(train), len(test)) == (180, 1617)
    assert np.intersect1d(train, test).size == 0 and len(train) + len(test) == 1797
    assert len(sources.get_split("digits", "default")[0]) == 898  # round(0.5 * 1797)
    with pytest.raises(ValueError, match="not available for digits.*'cv-R'"):
        sources.get_split("digits", "checkerboard")
    assert sources.image_source("digits")([0, 5]).shape == (2, 1, 32, 32)


def test_a_run_on_another_dataset_trains_and_is_named_by_it(tmp_path):
    from rdvae import train
    from rdvae.config import RunConfig

    config = RunConfig(split="cv-0.1", arch="cnn1", dataset="digits", betas=(1.0,), seeds=(0,), iterations=5,
                       eval_every=5, curve_examples=32, eval_examples=64, iwae_samples=2, iwae_examples=8,
                       mi_batch=32, hard_example_pool=32)  # fmt: skip
    assert config.run_id.startswith("digits-cnn1-cv-0.1-")
    results = train.run(config, store_path=tmp_path, progress=False)
    assert results.reconstructions["reconstructions"].shape == (1, 1, 32, 32)
    assert [r["status"] for r in results.members] == ["ok", "ok"]
    with pytest.raises(ValueError, match="unknown dataset 'cifar'"):
        RunConfig(split="cv-0.1", arch="mlp1", dataset="cifar", betas=(1.0,), seeds=(0,), iterations=5)
