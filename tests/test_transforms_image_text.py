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
    with pytest.raises(InputError, match="text input 1: must be a string, got int"):
        transform.batch(["a dog", 3])


def test_float_0_255_images_are_rejected_not_clipped_to_white():
    image = np.random.default_rng(0).uniform(0, 255, (32, 32, 3))
    with pytest.raises(InputError, match=r"float image values span 0\.0\d+\.\.254\.\d+, but floats must be in \[0, 1\]: divide 0-255"):
        build_transform("vision", {"size": 16})(image)
    tf = build_transform("vision", {"size": 16})
    torch.testing.assert_close(tf(image / 255), tf(image.round().astype(np.uint8)), atol=0.02, rtol=0)


def test_16_bit_grey_png_is_scaled_not_clipped(tmp_path):
    grey = (np.arange(48 * 48).reshape(48, 48) * 28).astype(np.uint16)  # 0..64484
    Image.fromarray(grey).save(tmp_path / "grey16.png")
    tf = build_transform("vision", {"size": 16})
    from_file = tf(tmp_path / "grey16.png")
    expected = tf(np.repeat((grey / 65535.0)[..., None], 3, axis=2))
    torch.testing.assert_close(from_file, expected)
    white = tf(np.ones((48, 48, 3)))
    assert (from_file - white).abs().mean() > 0.5
