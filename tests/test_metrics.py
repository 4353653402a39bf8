"""Evaluation metrics match hand-computed values, treat ties pessimistically and reject bad input."""
import math

import pytest
import torch

from edgebind.errors import InputError
from edgebind.retrieval import chance_recall, retrieval_recall, top_k
from edgebind.scoring import class_embeddings, zeroshot_scores
from edgebind.training.metrics import (
    arithmetic_retrieval, average_precision, chance_topk, format_table, mean_average_precision, topk_accuracy,
)


def test_topk_accuracy_by_hand_with_pessimistic_ties():
    scores = torch.tensor([[0.9, 0.1, 0.0],    # target 0: rank 1
                           [0.2, 0.5, 0.3],    # target 2: rank 2
                           [0.1, 0.8, 0.1]])   # target 2: ties class 0 -> rank 3
    acc = topk_accuracy(scores, torch.tensor([0, 2, 2]), ks=(1, 2, 5))
    assert acc == pytest.approx({"top1": 1 / 3, "top2": 2 / 3, "top5": 1.0})
    assert topk_accuracy(torch.ones(4, 3), torch.tensor([0, 1, 2, 0]), ks=(1,))["top1"] == 0.0


def test_zeroshot_scores_are_cosines():
    q, c = torch.randn(4, 6), torch.randn(3, 6)
    scores = zeroshot_scores(q, c)
    assert scores.shape == (4, 3)
    torch.testing.assert_close(scores, zeroshot_scores(5 * q, 0.2 * c))
    torch.testing.assert_close(scores[1, 2], torch.nn.functional.cosine_similarity(q[1], c[2], dim=0))


def test_class_embeddings_average_unit_prompts():
    prompts = torch.tensor([[2.0, 0.0], [0.0, 0.5], [0.0, 3.0]])
    emb = class_embeddings(prompts, torch.tensor([0, 0, 1]), num_classes=2)
    s = 1 / math.sqrt(2)
    torch.testing.assert_close(emb, torch.tensor([[s, s], [0.0, 1.0]]))
    with pytest.raises(InputError, match=r"\[2\] have no prompt"):
        class_embeddings(prompts, torch.tensor([0, 0, 1]), num_classes=3)


def test_top_k_returns_the_nearest_gallery_items_best_first():
    gallery = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.7, 0.7], [-1.0, 0.0]])
    queries = torch.tensor([[0.9, 0.1], [-1.0, 0.1]])
    scores, index = top_k(queries, gallery, k=2)
    assert index.tolist() == [[0, 2], [3, 1]]
    torch.testing.assert_close(scores, torch.nn.functional.cosine_similarity(
        queries[:, None], gallery[index], dim=-1))
    assert top_k(torch.randn(1, 2), gallery, k=10)[1].shape == (1, 4)  # k beyond the gallery: all of it


def test_retrieval_recall_by_hand():
    query = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    gallery = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, -1.0]])
    # query 2 scores 0.71 against gallery 0 and 1 but 0 against its own match -> rank 3;
    # gallery 2 is closer to query 0 (0.71) than to query 2 (0) -> rank 2 in the reverse direction.
    result = retrieval_recall(query, gallery, ks=(1, 2))
    assert result["a_to_b"] == pytest.approx({"R@1": 2 / 3, "R@2": 2 / 3, "median_rank": 1.0})
    assert result["b_to_a"] == pytest.approx({"R@1": 2 / 3, "R@2": 1.0, "median_rank": 1.0})


def test_retrieval_ties_count_against_the_match():
    collapsed = torch.ones(3, 4)
    result = retrieval_recall(collapsed, collapsed, ks=(1, 3))
    assert result["a_to_b"] == {"R@1": 0.0, "R@3": 1.0, "median_rank": 3.0}


def test_median_rank_averages_the_middle_pair():
    query = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    gallery = torch.tensor([[1.0, 0.0], [0.0, 1.0]])  # query 1 ties both items -> ranks 1 and 2
    assert retrieval_recall(query, gallery)["a_to_b"]["median_rank"] == 1.5


def test_average_precision_by_hand():
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6])
    assert average_precision(scores, torch.tensor([1, 0, 1, 0])) == pytest.approx((1 + 2 / 3) / 2)
    # tied scores form one threshold: precision at 0.5 is 1/2, at 0.1 it is 2/3
    tied = average_precision(torch.tensor([0.5, 0.5, 0.1]), torch.tensor([True, False, True]))
    assert tied == pytest.approx((1 / 2 + 2 / 3) / 2)


def test_mean_average_precision_skips_classes_without_positives():
    scores = torch.tensor([[0.9, 0.2, 0.5], [0.8, 0.6, 0.1], [0.7, 0.4, 0.3]])
    targets = torch.tensor([[1, 0, 0], [0, 1, 0], [1, 0, 0]])
    # class 0: AP 5/6; class 1: AP 1; class 2 has no positive and is left out
    assert mean_average_precision(scores, targets) == pytest.approx((5 / 6 + 1) / 2)


def test_chance_levels():
    assert chance_topk(10, 5) == 0.5 and chance_topk(3, 5) == 1.0
    assert chance_recall(100, 10) == 0.1
    with pytest.raises(InputError):
        chance_topk(0, 1)


def test_arithmetic_composition_beats_each_part():
    base, add = torch.tensor([[1.0, 0.0, 0.0]]), torch.tensor([[0.0, 1.0, 0.0]])
    gallery = torch.tensor([[1.0, 0.0, 0.0],    # what base alone finds
                            [0.0, 1.0, 0.0],    # what add alone finds
                            [1.0, 1.0, 0.0],    # the composition: the target
                            [0.0, 0.0, 1.0]])
    result = arithmetic_retrieval(base, 3 * add, gallery, torch.tensor([2]), ks=(1, 2))
    assert result == {"composed": {"R@1": 1.0, "R@2": 1.0},
                      "base_only": {"R@1": 0.0, "R@2": 1.0},
                      "add_only": {"R@1": 0.0, "R@2": 1.0}}
    by_class = arithmetic_retrieval(base, add, gallery, torch.tensor([7]), ks=(1,),
                                    gallery_labels=torch.tensor([0, 1, 7, 7]))
    assert by_class["composed"]["R@1"] == 1.0 and by_class["base_only"]["R@1"] == 0.0
    base_weighted = arithmetic_retrieval(base, add, gallery, torch.tensor([0]), ks=(1,), weights=(1.0, 0.0))
    assert base_weighted["composed"] == base_weighted["base_only"] == {"R@1": 1.0}


def test_format_table_aligns_columns():
    rows = [{"model": "tiny", "top1": 0.5}, {"model": "base-long", "top1": 12.25, "extra": "x"}]
    assert format_table(rows, ["model", "top1", "R@1"]) == "\n".join([
        "model        top1  R@1",
        "---------  ------  ---",
        "tiny        0.500",
        "base-long  12.250",
    ])


@pytest.mark.parametrize("call, match", [
    (lambda: topk_accuracy(torch.tensor([[0.1, float("nan")]]), torch.tensor([0])), "NaN"),
    (lambda: topk_accuracy(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long)), "non-empty"),
    (lambda: topk_accuracy(torch.zeros(3), torch.tensor([0])), "2-D"),
    (lambda: topk_accuracy(torch.zeros(2, 3), torch.tensor([0])), r"shape \(2,\)"),
    (lambda: topk_accuracy(torch.zeros(2, 3), torch.tensor([0, 3])), r"\[0, 3\)"),
    (lambda: topk_accuracy(torch.zeros(2, 3), torch.tensor([0.0, 1.0])), "integer"),
    (lambda: topk_accuracy(torch.zeros(2, 3), torch.tensor([0, 1]), ks=(0,)), "positive"),
    (lambda: zeroshot_scores(torch.zeros(2, 3), torch.zeros(2, 4)), "same model"),
    (lambda: retrieval_recall(torch.randn(3, 4), torch.randn(2, 4)), "paired"),
    (lambda: average_precision(torch.rand(3), torch.zeros(3)), "no positive"),
    (lambda: average_precision(torch.rand(3, 1), torch.ones(3, 1)), "1-D"),
    (lambda: mean_average_precision(torch.rand(2, 2), torch.tensor([[2, 0], [1, 0]])), "multi-hot"),
    (lambda: mean_average_precision(torch.rand(2, 2), torch.zeros(2, 3)), "shape"),
    (lambda: arithmetic_retrieval(torch.randn(2, 3), torch.randn(2, 4), torch.randn(5, 3),
                                  torch.tensor([0, 1])), "same shape"),
    (lambda: arithmetic_retrieval(torch.randn(1, 3), torch.randn(1, 3), torch.randn(2, 3), torch.tensor([4]),
                                  gallery_labels=torch.tensor([0, 1])), "no correct candidate"),
])
def test_bad_inputs_raise_clear_errors(call, match):
    with pytest.raises(InputError, match=match):
        call()
