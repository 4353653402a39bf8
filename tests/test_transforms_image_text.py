"""Image and text transforms: the CLIP recipe, array/file parity, and clear errors."""
import re

import numpy as np
import pytest
import torch
from PIL import Image

from edgebind.errors import InputError, UnreadableFileError
from edgebind.transforms import build_transform
from edgebind.transforms.image import CLIP_MEAN, CLIP_STD


def test_image_file_and_array_give_the_same_tensor(tmp_path):
    rng = np.random.default_rng(0)
    array = rng.integers(0, 256, (48, 80, 3), dtype=np.uint8)
    Image.fromarray(array).save(tmp_path / "x.png")
    transform = build_transform("vision", {"size": 32})
    from_file, from_array = transform(tmp_path / "x.png"), transform(array)
    assert from_file.shape == (3, 32, 32)
    torch.testing.assert_close(from_file, from_array)


def test_image_normalisation_uses_clip_statistics():
    white = np.full((40, 40, 3), 255, dtype=np.uint8)
    out = build_transform("vision", {"size": 16})(white)
    expected = (1 - torch.tensor(CLIP_MEAN)) / torch.tensor(CLIP_STD)
    torch.testing.assert_close(out[:, 0, 0], expected)


def test_image_centre_crop_keeps_the_middle():
    array = np.zeros((20, 60, 3), dtype=np.uint8)
    array[:, 20:40] = 255  # only the middle third is white
    out = build_transform("vision", {"size": 20})(array)
    assert (out[0] > 1).all()  # every pixel of the crop is the white band


def test_float_images_in_unit_range_match_uint8():
    array = np.random.default_rng(1).integers(0, 256, (24, 24, 3), dtype=np.uint8)
    transform = build_transform("vision", {"size": 24})
    torch.testing.assert_close(transform(array), transform(array / 255.0))


@pytest.mark.parametrize("bad", [np.zeros((4, 4, 5)), np.zeros((0, 0, 3)), np.full((4, 4, 3), np.nan)])
def test_bad_image_arrays(bad):
    with pytest.raises(InputError):
        build_transform("vision")(bad)


def test_unreadable_image_file(tmp_path):
    (tmp_path / "x.png").write_bytes(b"no png here")
    path = tmp_path / "x.png"
    with pytest.raises(UnreadableFileError, match=re.escape(f"cannot read image {path}: ")):
        build_transform("vision")(path)


def test_text_tokens_follow_clip():
    tokens = build_transform("text").batch(["a dog barking", "A  Dog   BARKING"])
    assert tokens.dtype == torch.long and tokens.shape == (2, 77)
    assert tokens[0, :5].tolist() == [49406, 320, 1929, 32676, 49407]
    assert torch.equal(tokens[0], tokens[1])  # cleaned and lower-cased
    assert tokens[0, 5:].eq(0).all()


def test_long_text_keeps_the_end_token_last():
    tokens = build_transform("text").batch(["word " * 200])
    assert tokens[0, -1].item() == 49407 and tokens[0].argmax().item() == 76


def test_text_needs_a_list_of_strings():
    transform = build_transform("text")
    with pytest.raises(InputError, match="list"):
        transform.batch("a dog")
    with pytest.raises(InputError, match="strings"):
        transform.batch([3])
