"""Readers for the other datasets of paper Figure 7, in their original published file formats.

Nothing is downloaded: the user puts the files in a folder (``$RDVAE_DATA``, else ``<book>/data``),
one subfolder per dataset, and every reader checks what it reads (magic numbers, shapes, dtypes,
value ranges, and the published MD5 of the MNIST and Fashion-MNIST ``.gz`` files), failing with a
:class:`DatasetFileError` that names the file, what was expected and where to get it.

Every dataset is returned as float32 images (N, C, 32, 32) in [0, 1], not binarised (as the paper's
Bernoulli decoder on continuous pixels, footnote 1), with its own factor labels where it has them:

==============  ==========================================  ==============================================
name            files (in ``<data>/<name>/``)                preprocessing
==============  ==========================================  ==============================================
mnist           ``{train,t10k}-{images-idx3,labels-idx1}-   train and test pooled (70,000); 28x28 grey
fashion-mnist   ubyte[.gz]`` (IDX format)                    /255, zero-padded 2 px per side to 32x32; C = 1
smallnorb       ``smallnorb-5x46789x9x18x6x2x96x96-training-  training and testing pooled (48,600); camera 0
                {dat,cat,info}.mat`` and ``...5x01235...      (left) of the stereo pair; 96x96 -> 32x32 by
                -testing-...`` (NORB binary matrix format)   3x3 area averaging; C = 1
3dshapes        ``3dshapes.h5`` (HDF5: images, labels)       64x64 RGB -> 32x32 by 2x2 area averaging, C = 3;
                                                             a fixed random subset of ``max_images``
dsprites        ``dsprites_ndarray_co1sh3sc6or40x32y32_      64x64 binary -> 32x32 by 2x2 area averaging
                64x64.npz``                                  (soft edges), C = 1; a fixed random subset
digits          none: scikit-learn's bundled 8x8 digits      /16, each pixel repeated 4x4 to 32x32; C = 1.
                (1,797 images; the offline stand-in for      Always available.
                MNIST)
==============  ==========================================  ==============================================
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rdvae import paths

DATA_ENV = "RDVAE_DATA"
DSPRITES_FILE = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"


class DatasetFileError(ValueError):
    """A dataset file is missing, truncated or not what its name says."""


@dataclass
class ImageDataset:
    name: str
    images: np.ndarray  # float32 (N, C, 32, 32) in [0, 1]
    labels: np.ndarray  # (N, k) factor or class labels
    label_names: tuple[str, ...]
    source: str  # where the images came from
    notes: dict = field(default_factory=dict)


def data_dir() -> Path:
    """``$RDVAE_DATA``, else ``<book root>/data``."""
    return Path(os.environ[DATA_ENV]) if os.environ.get(DATA_ENV) else paths.repo_root() / "data"


WHERE = {
    "mnist": "http://yann.lecun.com/exdb/mnist/ (the four *-ubyte.gz files)",
    "fashion-mnist": "https://github.com/zalandoresearch/fashion-mnist (data/fashion/*-ubyte.gz)",
    "smallnorb": "https://cs.nyu.edu/~ylclab/data/norb-v1.0-small/ (the six smallnorb-*.mat files)",
    "3dshapes": "https://github.com/deepmind/3d-shapes (3dshapes.h5)",
    "dsprites": f"https://github.com/deepmind/dsprites-dataset ({DSPRITES_FILE})",
}
MNIST_MD5 = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
}
NORB_PREFIXES = ("smallnorb-5x46789x9x18x6x2x96x96-training", "smallnorb-5x01235x9x18x6x2x96x96-testing")


def _fail(path: Path, problem: str, dataset: str) -> DatasetFileError:
    return DatasetFileError(
        f"{path}: {problem}. Get the original file from {WHERE[dataset]} into {path.parent}/"
    )


def _find(folder: Path, name: str, dataset: str) -> Path:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.exists():
            return candidate
    raise _fail(folder / name, "missing (neither it nor a .gz of it is there)", dataset)


def _read_bytes(path: Path) -> bytes:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            return handle.read()
    except (OSError, EOFError) as err:
        raise DatasetFileError(f"{path}: cannot be read ({err}); the file is truncated or not gzip") from None


# ------------------------------------------------------------------------------------- IDX files
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: Path, dataset: str = "mnist", expected_shape: tuple[int, ...] | None = None) -> np.ndarray:
    """An IDX array (the MNIST format): 2 zero bytes, a type code, the rank, big-endian int32 sizes."""
    raw = _read_bytes(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise _fail(path, f"bad IDX magic number {raw[:4].hex() if raw else 'empty file'}", dataset)
    rank = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(rank))
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    expected_bytes = 4 + 4 * rank + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected_bytes:
        raise _fail(
            path, f"{len(raw):,} bytes, but its header {shape} needs {expected_bytes:,} (truncated?)", dataset
        )
    if expected_shape is not None and shape != expected_shape:
        raise _fail(path, f"holds an array of shape {shape}, expected {expected_shape}", dataset)
    return np.frombuffer(raw, dtype=dtype, offset=4 + 4 * rank).reshape(shape)


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()  # noqa: S324 - the published checksum is MD5


def read_mnist_like(
    folder: Path, dataset: str, verify_checksums: bool = True, counts: tuple[int, int] = (60_000, 10_000)
) -> ImageDataset:
    """MNIST or Fashion-MNIST: 60,000 + 10,000 images pooled, padded to 32x32."""
    images, labels = [], []
    for part, n in zip(("train", "t10k"), counts, strict=True):
        pair = []
        for kind, shape in (("images-idx3", (n, 28, 28)), ("labels-idx1", (n,))):
            path = _find(folder, f"{part}-{kind}-ubyte", dataset)
            if verify_checksums and path.suffix == ".gz":
                expected = MNIST_MD5[dataset][path.name]
                if _md5(path) != expected:
                    raise _fail(path, f"MD5 {_md5(path)} differs from the published {expected}", dataset)
            pair.append(read_idx(path, dataset, shape))
        images.append(pair[0])
        labels.append(pair[1])
    pixels = np.concatenate(images).astype(np.float32) / 255
    padded = np.pad(pixels, ((0, 0), (2, 2), (2, 2)))[:, None]  # (N, 28, 28) -> (N, 1, 32, 32)
    return ImageDataset(
        dataset, padded, np.concatenate(labels)[:, None].astype(np.int64), ("class",), str(folder)
    )


# ------------------------------------------------------------------------------------ SmallNORB
_NORB_TYPES = {0x1E3D4C55: np.uint8, 0x1E3D4C54: np.int32, 0x1E3D4C51: np.float32, 0x1E3D4C53: np.float64}


def read_norb_matrix(path: Path, expected_shape: tuple[int, ...]) -> np.ndarray:
    """A NORB binary matrix: little-endian int32 magic, rank, max(rank, 3) sizes, then the data."""
    raw = _read_bytes(path)
    if len(raw) < 8:
        raise _fail(path, "too short for a NORB header", "smallnorb")
    magic, rank = (int.from_bytes(raw[i : i + 4], "little") for i in (0, 4))
    if magic not in _NORB_TYPES:
        raise _fail(path, f"bad NORB magic number {magic:#x}", "smallnorb")
    header = 8 + 4 * max(rank, 3)
    shape = tuple(int.from_bytes(raw[8 + 4 * i : 12 + 4 * i], "little") for i in range(rank))
    dtype = np.dtype(_NORB_TYPES[magic]).newbyteorder("<")
    if shape != expected_shape:
        raise _fail(path, f"holds shape {shape}, expected {expected_shape}", "smallnorb")
    needed = header + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != needed:
        raise _fail(path, f"{len(raw):,} bytes, its header needs {needed:,} (truncated?)", "smallnorb")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)


def _area_downsample(images: np.ndarray, factor: int) -> np.ndarray:
    """(N, C, H, W) -> (N, C, H/f, W/f) by averaging f x f blocks."""
    n, c, h, w = images.shape
    return images.reshape(n, c, h // factor, factor, w // factor, factor).mean(axis=(3, 5))


def read_smallnorb(folder: Path, per_part: int = 24_300) -> ImageDataset:
    """SmallNORB, camera 0, training and testing pooled: labels category, instance, elevation,
    azimuth, lighting."""
    images, labels = [], []
    for prefix in NORB_PREFIXES:
        dat = read_norb_matrix(_find(folder, f"{prefix}-dat.mat", "smallnorb"), (per_part, 2, 96, 96))
        cat = read_norb_matrix(_find(folder, f"{prefix}-cat.mat", "smallnorb"), (per_part,))
        info = read_norb_matrix(_find(folder, f"{prefix}-info.mat", "smallnorb"), (per_part, 4))
        images.append(dat[:, :1].astype(np.float32) / 255)  # camera 0: (N, 1, 96, 96)
        labels.append(np.column_stack([cat, info]).astype(np.int64))
    pixels = _area_downsample(np.concatenate(images), 3)
    names = ("category", "instance", "elevation", "azimuth", "lighting")
    return ImageDataset("smallnorb", pixels.astype(np.float32), np.concatenate(labels), names, str(folder))


# ------------------------------------------------------------------------- 3dShapes and dSprites
def _subset(n: int, max_images: int | None) -> np.ndarray:
    if max_images is None or max_images >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(0).choice(n, size=max_images, replace=False))


def read_3dshapes(folder: Path, max_images: int | None = 48_000) -> ImageDataset:
    """3dShapes (480,000 64x64 RGB images, six factors); a fixed random subset of ``max_images``."""
    import h5py

    path = folder / "3dshapes.h5"
    if not path.exists():
        raise _fail(path, "missing", "3dshapes")
    try:
        with h5py.File(path, "r") as handle:
            if "images" not in handle or "labels" not in handle:
                raise _fail(
                    path, f"has datasets {sorted(handle)}, expected 'images' and 'labels'", "3dshapes"
                )
            images, labels = handle["images"], handle["labels"]
            if (
                images.shape[1:] != (64, 64, 3)
                or images.dtype != np.uint8
                or labels.shape != (images.shape[0], 6)
            ):
                raise _fail(path, f"images {images.shape} {images.dtype}, labels {labels.shape}; expected "
                            "(N, 64, 64, 3) uint8 and (N, 6)", "3dshapes")  # fmt: skip
            rows = _subset(images.shape[0], max_images)
            pixels, factors = images[rows], labels[rows]
    except OSError as err:
        raise _fail(path, f"is not a readable HDF5 file ({err})", "3dshapes") from None
    chw = pixels.transpose(0, 3, 1, 2).astype(np.float32) / 255  # (N, 64, 64, 3) -> (N, 3, 64, 64)
    names = ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
    return ImageDataset("3dshapes", _area_downsample(chw, 2), factors, names, str(path))


def read_dsprites(folder: Path, max_images: int | None = 73_728) -> ImageDataset:
    """dSprites (737,280 64x64 binary images, latent factors); a fixed random subset of ``max_images``."""
    path = folder / DSPRITES_FILE
    if not path.exists():
        raise _fail(path, "missing", "dsprites")
    try:
        with np.load(path, allow_pickle=False) as archive:
            imgs, latents = archive["imgs"], archive["latents_values"]
    except (OSError, ValueError, KeyError) as err:
        raise _fail(path, f"is not the dSprites archive ({type(err).__name__}: {err})", "dsprites") from None
    if imgs.ndim != 3 or imgs.shape[1:] != (64, 64) or latents.shape != (imgs.shape[0], 6) or imgs.max() > 1:
        problem = f"imgs {imgs.shape} max {imgs.max()}, latents {latents.shape}"
        raise _fail(path, f"{problem}; expected (N, 64, 64) in {{0, 1}} and (N, 6)", "dsprites")
    rows = _subset(len(imgs), max_images)
    pixels = _area_downsample(imgs[rows][:, None].astype(np.float32), 2)
    names = ("color", "shape", "scale", "orientation", "x", "y")
    return ImageDataset("dsprites", pixels, latents[rows], names, str(path))


def read_digits() -> ImageDataset:
    """scikit-learn's bundled 8x8 handwritten digits (the offline stand-in for MNIST)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    pixels = (
        (digits.images.astype(np.float32) / 16).repeat(4, axis=1).repeat(4, axis=2)[:, None]
    )  # (N, 1, 32, 32)
    return ImageDataset("digits", pixels, digits.target[:, None].astype(np.int64), ("class",), "scikit-learn")


READERS = {
    "mnist": lambda folder: read_mnist_like(folder, "mnist"),
    "fashion-mnist": lambda folder: read_mnist_like(folder, "fashion-mnist"),
    "smallnorb": read_smallnorb,
    "3dshapes": read_3dshapes,
    "dsprites": read_dsprites,
}
DATASETS = ("digits", *READERS)


def load(name: str, folder: Path | None = None) -> ImageDataset:
    """The dataset ``name`` from ``<folder or data_dir()>/<name>/`` (``digits`` needs no files);
    read once per process and folder."""
    if name != "digits" and name not in READERS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    return _load(name, str(folder or data_dir()))


@functools.lru_cache(maxsize=8)
def _load(name: str, folder: str) -> ImageDataset:
    return read_digits() if name == "digits" else READERS[name](Path(folder) / name)


def availability(folder: Path | None = None) -> dict[str, str]:
    """For each dataset: ``'available'`` or why not (missing folder, or the reader's error)."""
    root = folder or data_dir()
    status = {"digits": "available (bundled with scikit-learn)"}
    for name in READERS:
        if not (root / name).is_dir():
            status[name] = f"missing: put the files in {root / name}/ (from {WHERE[name]})"
            continue
        try:
            load(name, root)
            status[name] = "available"
        except DatasetFileError as err:
            status[name] = f"unusable: {err}"
    return status
