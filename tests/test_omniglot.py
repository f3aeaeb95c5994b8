"""Real Omniglot (images_background_small1.zip): decoding, rotations, splits, zip == folder.

Skips with a clear reason when the shared data folder is absent.
"""

from __future__ import annotations

import zipfile

import pytest
import torch

from engine.data import load_source
from engine.data.omniglot import load_omniglot

CHARACTERS, DRAWINGS = 136, 20  # small1: 5 alphabets, 136 characters, 20 drawers


def test_zip_with_rotations(omniglot_small1_pool):
    pool = omniglot_small1_pool
    assert pool.num_classes == CHARACTERS * 4
    assert pool.images.dtype == torch.uint8 and pool.images.shape == (CHARACTERS * DRAWINGS * 4, 28, 28)
    assert all(pool.count(c) == DRAWINGS for c in range(pool.num_classes))
    assert len(set(pool.class_groups)) == 5
    # strokes bright on dark: borders are (nearly) empty, strokes reach full brightness
    border = torch.cat([pool.images[:, 0], pool.images[:, -1], pool.images[:, :, 0], pool.images[:, :, -1]], 1).float()
    assert border.mean() < 10 and pool.images.float().mean() < 60
    assert (pool.images.flatten(1).amax(1) > 200).float().mean() > 0.99
    # a rotated class is its base class turned by 90 degrees
    base = pool.class_names.index(pool.class_names[0])
    rot = pool.class_names.index(pool.class_names[0] + "/rot90")
    assert torch.equal(pool.images[pool.members(rot)], torch.rot90(pool.images[pool.members(base)], 1, dims=(1, 2)))


def test_splits_by_alphabet_disjoint_and_covering(omniglot_small1_pool):
    pool = omniglot_small1_pool
    parts = {s: set(pool.split_classes(s)) for s in ("train", "val", "test")}
    assert all(parts.values())
    assert sum(len(p) for p in parts.values()) == pool.num_classes == len(set().union(*parts.values()))
    alphabets = {s: {pool.class_groups[c] for c in p} for s, p in parts.items()}
    assert not (
        alphabets["train"] & alphabets["val"]
        or alphabets["train"] & alphabets["test"]
        or alphabets["val"] & alphabets["test"]
    )
    # rotations of a character stay in its split
    for s, p in parts.items():
        for c in p:
            assert pool.class_names[c].split("/rot")[0] in {pool.class_names[i].split("/rot")[0] for i in p}


@pytest.fixture(scope="module")
def no_rotation_pools(omniglot_small1, tmp_path_factory):
    """The same data without rotations, from the zip and from the extracted folder."""
    zipped = tmp_path_factory.mktemp("zipped")
    (zipped / omniglot_small1.name).symlink_to(omniglot_small1)
    folder = tmp_path_factory.mktemp("extracted")
    with zipfile.ZipFile(omniglot_small1) as zf:
        zf.extractall(folder)
    assert (folder / "images_background_small1").is_dir()
    return load_source("omniglot", zipped, rotations=False), load_omniglot(folder, rotations=False)


def test_no_rotations(no_rotation_pools, omniglot_small1_pool):
    pool, _ = no_rotation_pools
    assert pool.num_classes == CHARACTERS
    assert pool.images.shape == (CHARACTERS * DRAWINGS, 28, 28)
    assert not any("/rot" in n for n in pool.class_names)
    # the unrotated classes are the rot0 classes of the rotated pool, image for image
    rotated = omniglot_small1_pool
    for c in (0, 57, CHARACTERS - 1):
        r = rotated.class_names.index(pool.class_names[c])
        assert torch.equal(pool.images[pool.members(c)], rotated.images[rotated.members(r)])


def test_extracted_folder_equals_zip(no_rotation_pools):
    from_zip, from_folder = no_rotation_pools
    assert from_folder.class_names == from_zip.class_names
    assert from_folder.class_groups == from_zip.class_groups
    assert from_folder.splits == from_zip.splits
    for c in range(from_zip.num_classes):
        a = from_zip.images[from_zip.members(c)]
        b = from_folder.images[from_folder.members(c)]
        # the same drawings of the class (order within a class may differ between zip and folder)
        assert sorted(x.numpy().tobytes() for x in a) == sorted(x.numpy().tobytes() for x in b)
