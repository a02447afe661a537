"""The field's metrics kept as summable counts agree with their textbook definitions (scikit-learn's)."""

import torch
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

from cramnet.train import metrics
from cramnet.train.bio_tasks import distance_bins


def test_macro_f1_from_summed_confusion_counts():
    g = torch.Generator().manual_seed(0)
    target = torch.randint(0, 4, (300,), generator=g)
    logits = torch.randn(300, 4, generator=g) + 2.0 * torch.nn.functional.one_hot(target, 4)
    sums = {}
    for part in range(3):  # three batches add up
        rows = slice(part * 100, (part + 1) * 100)
        for key, value in metrics.confusion_counts(logits[rows], target[rows], 4).items():
            sums[key] = sums.get(key, 0.0) + value
    matrix = metrics.confusion_matrix(sums, 4)
    assert matrix.sum() == 300
    expected = f1_score(target.numpy(), logits.argmax(-1).numpy(), average="macro")
    assert abs(metrics.macro_f1(matrix) - expected) < 1e-6


def test_binned_auroc_and_auprc_match_exact_ones():
    g = torch.Generator().manual_seed(1)
    positive = torch.rand(2000, generator=g) < 0.2
    scores = torch.sigmoid(torch.randn(2000, generator=g) + 1.5 * positive)
    auroc, auprc = metrics.auroc_auprc(metrics.score_counts(scores, positive))
    assert abs(auroc - roc_auc_score(positive.numpy(), scores.numpy())) < 0.005
    assert abs(auprc - average_precision_score(positive.numpy(), scores.numpy())) < 0.01
    assert metrics.auroc_auprc(metrics.score_counts(scores, torch.ones(2000, dtype=torch.bool))) is None


def test_top_l_precision_counts_long_range_pairs_only():
    length = 10
    contact = torch.zeros(1, length, length, dtype=torch.bool)
    contact[0, 0, 9] = contact[0, 1, 8] = True  # two long-range contacts
    prob = torch.zeros(1, length, length)
    prob[0, 0, 9], prob[0, 1, 8], prob[0, 0, 1] = 0.9, 0.8, 1.0  # (0, 1) is short range: not counted
    known = torch.ones(1, length, length, dtype=torch.bool)
    precision = metrics.top_l_precision(prob, contact, known)
    assert abs(float(precision) - 2 / length) < 1e-6  # 2 hits among the top L = 10 long-range pairs


def test_distance_bins_put_the_contact_cut_off_at_an_edge():
    edges, below = distance_bins(64)
    assert len(edges) == 63 and edges[0] == 2.0 and edges[-1] == 22.0
    assert edges[below - 1] <= 8.0 < edges[below]


def test_metrics_where_more_is_better_are_maximised_everywhere():
    from cramnet.search.sweep import HIGHER_IS_BETTER as sweep_higher
    from cramnet.train.tasks import HIGHER_IS_BETTER

    assert {"accuracy", "macro_f1", "auroc", "auprc", "top_l_precision", "iou", "dice"} <= set(HIGHER_IS_BETTER)
    assert sweep_higher is HIGHER_IS_BETTER
