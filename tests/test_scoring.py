"""Cosine similarity and softmax scores behave as documented."""
import pytest
import torch

from edgebind import cosine_similarity, softmax_scores
from edgebind.errors import InputError


def test_cosine_is_scale_free_and_bounded():
    a, b = torch.randn(3, 8), torch.randn(5, 8)
    sim = cosine_similarity(a, b)
    assert sim.shape == (3, 5) and sim.abs().max() <= 1 + 1e-6
    torch.testing.assert_close(sim, cosine_similarity(7 * a, 0.1 * b))
    torch.testing.assert_close(cosine_similarity(a[0], a[0]), torch.ones(1, 1))


def test_softmax_depends_on_the_candidate_set_and_temperature():
    q = torch.tensor([[1.0, 0.0]])
    c = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    p = softmax_scores(q, c, logit_scale=10.0)
    torch.testing.assert_close(p.sum(-1), torch.ones(1))
    assert p[0, 0] > 0.99
    assert softmax_scores(q, c, logit_scale=1.0)[0, 0] < p[0, 0]
    assert softmax_scores(q, torch.cat([c, c[:1]]), logit_scale=10.0)[0, 0] < 0.51


def test_mismatched_sizes_fail_clearly():
    with pytest.raises(InputError, match="same model"):
        cosine_similarity(torch.randn(2, 4), torch.randn(2, 5))
