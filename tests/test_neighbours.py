"""Nearest-neighbour distances against a brute-force float64 computation."""

import numpy as np
import pytest

from rdvae.data import neighbours


def _brute_force(test, train):
    d = np.sqrt(((test[:, None, :].astype(np.float64) - train[None, :, :]) ** 2).sum(-1))
    return d.min(1), d.argmin(1)


@pytest.mark.parametrize("test_chunk,train_block", [(1024, 16384), (7, 13)])
def test_matches_brute_force(test_chunk, train_block):
    rng = np.random.default_rng(0)
    train = rng.random((120, 3, 4, 4)).astype(np.float32)
    test = rng.random((37, 3, 4, 4)).astype(np.float32)
    dist, pos = neighbours.nearest_neighbours(test, train, test_chunk=test_chunk, train_block=train_block)
    ref_dist, ref_pos = _brute_force(test.reshape(37, -1), train.reshape(120, -1))
    np.testing.assert_array_equal(pos, ref_pos)
    np.testing.assert_allclose(dist, ref_dist, rtol=1e-12)  # the winner's distance is computed directly


def test_a_test_image_present_in_train_has_distance_exactly_zero():
    # image-sized rows (3 x 32 x 32 in [0, 1]), where the float32 matmul form is off by ~1e-3 and by how
    # much depends on the machine's BLAS: the recomputed winning distance is exactly 0 on any machine
    rng = np.random.default_rng(1)
    train = rng.random((300, 3072)).astype(np.float32)
    dist, pos = neighbours.nearest_neighbours(train[[3, 17, 299]], train, test_chunk=2, train_block=128)
    np.testing.assert_array_equal(pos, [3, 17, 299])
    np.testing.assert_array_equal(dist, 0.0)


def test_split_neighbours_maps_back_to_dataset_indices_and_reads_in_blocks():
    rng = np.random.default_rng(2)
    pool = rng.random((200, 12)).astype(np.float32)
    calls = []

    def images(idx):
        calls.append(len(idx))
        return pool[idx]

    train_idx, test_idx = np.arange(0, 150), np.arange(150, 200)
    result = neighbours.split_neighbours(train_idx, test_idx, images, n_test=20, train_block=40)
    assert max(calls[1:]) <= 40  # training images are read one block at a time
    ref_dist, ref_pos = _brute_force(pool[result.test_idx], pool[train_idx])
    np.testing.assert_allclose(result.distance, ref_dist, rtol=1e-12)
    np.testing.assert_array_equal(result.neighbour_idx, train_idx[ref_pos])


def test_hard_example_is_the_test_point_nearest_the_percentile():
    distance = np.arange(1.0, 101.0)  # percentile 90 = 90.1
    result = neighbours.NeighbourResult(
        test_idx=np.arange(1000, 1100), distance=distance, neighbour_idx=np.arange(100)
    )
    test_index, train_index, d = result.hard_example(90)
    assert (test_index, train_index, d) == (1089, 89, 90.0)
