"""Few-shot probes learn from clustered embeddings, stay at chance on noise, and are seeded."""
import pytest
import torch

from edgebind.errors import ConfigError, InputError
from edgebind.training.fewshot import fewshot_eval

NUM_CLASSES, DIM = 10, 32


def clustered(n: int, generator: torch.Generator, centers: torch.Tensor, spread: float = 1.5):
    """`n` labelled points, round-robin over classes, scattered around each class's centre."""
    labels = torch.arange(n) % len(centers)
    return centers[labels] + spread * torch.randn(n, centers.shape[1], generator=generator), labels


@pytest.fixture(scope="module")
def clusters():
    g = torch.Generator().manual_seed(0)
    centers = torch.randn(NUM_CLASSES, DIM, generator=g)
    return (*clustered(200, g, centers), *clustered(500, g, centers))


@pytest.mark.parametrize("method", ["ncm", "linear"])
def test_accuracy_rises_with_shots_far_above_chance(clusters, method):
    result = fewshot_eval(*clusters, shots=(1, 8), seeds=(0, 1), method=method)
    assert set(result) == {1, 8}
    assert result[1]["chance"] == pytest.approx(1 / NUM_CLASSES)
    assert result[1]["mean"] > 3 * result[1]["chance"]
    assert result[8]["mean"] > result[1]["mean"] + 0.15
    assert result[8]["mean"] > 0.8
    assert len(result[8]["per_seed"]) == 2 and result[8]["std"] >= 0
    assert result[8]["short_classes"] == {}


@pytest.mark.parametrize("method", ["ncm", "linear"])
def test_noise_embeddings_sit_near_chance(method):
    g = torch.Generator().manual_seed(1)
    train, test = torch.randn(200, DIM, generator=g), torch.randn(800, DIM, generator=g)
    train_y, test_y = torch.randint(0, 4, (200,), generator=g), torch.randint(0, 4, (800,), generator=g)
    result = fewshot_eval(train, train_y, test, test_y, shots=(2, 8), seeds=(0, 1), method=method)
    for shot in (2, 8):
        assert abs(result[shot]["mean"] - 0.25) < 0.08


@pytest.mark.parametrize("method", ["ncm", "linear"])
def test_same_seed_same_result_other_seed_differs(clusters, method):
    first = fewshot_eval(*clusters, shots=(1,), seeds=(0, 1), method=method)
    again = fewshot_eval(*clusters, shots=(1,), seeds=(0, 1), method=method)
    assert first == again
    assert first[1]["per_seed"][0] != first[1]["per_seed"][1]


def test_short_classes_use_all_examples_and_are_reported():
    train = torch.tensor([[1.0, 0.0], [0.9, 0.1], [1.0, 0.1], [0.0, 1.0], [0.1, 1.0], [0.0, -1.0]])
    labels = torch.tensor([3, 3, 3, 5, 5, 9])  # non-contiguous labels; class 9 has a single example
    test = torch.tensor([[1.0, 0.05], [0.05, 1.0], [0.0, -0.9]])
    result = fewshot_eval(train, labels, test, torch.tensor([3, 5, 9]), shots=(1, 3), method="ncm")
    assert result[1]["short_classes"] == {}
    assert result[3]["short_classes"] == {5: 2, 9: 1}
    assert result[3]["mean"] == 1.0 and result[3]["chance"] == pytest.approx(1 / 3)


def test_bad_inputs_raise():
    x, y = torch.randn(4, 3), torch.tensor([0, 0, 1, 1])
    with pytest.raises(ConfigError, match="ncm"):
        fewshot_eval(x, y, x, y, method="knn")
    with pytest.raises(InputError, match=r"\[2\] have no training example"):
        fewshot_eval(x, y, x, torch.tensor([0, 1, 2, 1]))
    with pytest.raises(InputError, match="sizes differ"):
        fewshot_eval(x, y, torch.randn(4, 5), y)
    with pytest.raises(InputError, match="shots"):
        fewshot_eval(x, y, x, y, shots=(0,))
    with pytest.raises(InputError, match="NaN"):
        fewshot_eval(x.masked_fill(x > 0, float("nan")), y, x, y)
