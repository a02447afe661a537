"""Two tasks of the biological specs, beside those of tasks.py:

- next_event: output `[visits, codes]` log-rates; target the next code at each event (-100: none),
  waiting times from the age input; loss: competing exponentials; metrics: accuracy, AUROC, AUPRC.
- contact_map: output `[R, R, bins]` distance-bin scores (a distogram); target Cβ distances `[R, R]`
  (NaN: unknown); loss: cross-entropy over the bins; metrics: top-L precision, bin accuracy.

next_event follows Delphi-2M (Shmatko et al. 2025): the outputs are log-rates λ of competing
exponential waiting times, so the next event is k with probability λ_k / Λ and comes after Δt with
density Λ·exp(-Λ·Δt), Λ = Σλ. The loss is the negative log-likelihood of both: -log λ_k + Λ·Δt.
Rates are per year of age, and read as exp(output) / codes, so that an untrained model (outputs
near 0) starts at about one event a year rather than one per code.

contact_map follows AlphaFold's distogram head (Jumper et al. 2021, Suppl. §1.9.8): distances binned
over 2–22 Å; a pair's contact probability is the mass of the bins below 8 Å, and the field's score is
the precision of the top-L long-range (|i - j| >= 6) pairs.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from . import metrics

BIO_TASKS = ("next_event", "contact_map")
MIN_WAIT = 1 / 365  # a day: same-age events would otherwise reward infinite rates
FIRST_EDGE, LAST_EDGE, CONTACT = 2.0, 22.0, 8.0


def distance_bins(bins: int, device=None) -> tuple[torch.Tensor, int]:
    """The bins-1 inner edges (2 to 22 Å), and how many bins lie wholly below the contact cut-off."""
    edges = torch.linspace(FIRST_EDGE, LAST_EDGE, bins - 1, device=device)
    return edges, int((edges <= CONTACT).sum())


def next_event(task, pred: torch.Tensor, batch) -> tuple[torch.Tensor, dict[str, float]]:
    target = batch.target  # (B, V)
    ages = batch.inputs[task.times].float()[..., 0]  # (B, V)
    wait = torch.zeros_like(ages)
    wait[:, :-1] = (ages[:, 1:] - ages[:, :-1]).clamp(min=MIN_WAIT)
    counted = target != -100
    logits, wait, target = pred[counted], wait[counted], target[counted]  # (K, codes), (K,), (K,)
    n = int(counted.sum())
    if n == 0:
        return pred.sum() * 0, {"loss": 0.0, "n": 0}
    log_total = torch.logsumexp(logits, dim=-1) - math.log(logits.shape[-1])  # Λ per year
    which = F.cross_entropy(logits, target, reduction="none")  # -log(λ_k / Λ)
    when = torch.exp(log_total) * wait - log_total  # -log(Λ e^{-ΛΔt})
    loss = (which + when).mean()
    probs = logits.detach()[:, : task.classes].softmax(-1)  # the codes the data uses
    positive = F.one_hot(target, probs.shape[-1]).bool()
    counts = {
        "loss": float(loss.detach()) * n,
        "n": n,
        "correct": int((probs.argmax(-1) == target).sum()),
        "wait_nll": float(when.detach().sum()),
    }
    return loss, counts | metrics.score_counts(probs.flatten(), positive.flatten())


def contact_map(task, pred: torch.Tensor, batch) -> tuple[torch.Tensor, dict[str, float]]:
    distance = batch.target  # (B, R, R)
    edges, below = distance_bins(pred.shape[-1], pred.device)
    known = ~distance.isnan()
    diagonal = torch.eye(distance.shape[1], dtype=torch.bool, device=pred.device)
    known &= ~diagonal
    bins = torch.bucketize(distance.nan_to_num(0.0), edges)
    loss = F.cross_entropy(pred[known], bins[known])
    probs = pred.detach().float().softmax(-1)
    contact_prob = probs[..., :below].sum(-1)
    contact = distance.nan_to_num(float("inf")) <= edges[below - 1]
    precision = metrics.top_l_precision(contact_prob, contact, known)
    n = len(pred)
    pairs = int(known.sum())
    return loss, {
        "loss": float(loss.detach()) * n,
        "n": n,
        "top_l": float(precision.sum()),
        "bin_correct": int((probs.argmax(-1) == bins)[known].sum()),
        "pairs": pairs,
    }


def task_metrics(task, sums: dict) -> dict[str, float]:
    n = max(sums.get("n", 0), 1)
    result = {"loss": sums["loss"] / n}
    if task.name == "next_event":
        result["accuracy"] = sums.get("correct", 0) / n
        result["wait_nll"] = sums.get("wait_nll", 0) / n
        areas = metrics.auroc_auprc(sums)
        if areas is not None:
            result["auroc"], result["auprc"] = areas
    else:
        result["top_l_precision"] = sums.get("top_l", 0) / n
        result["bin_accuracy"] = sums.get("bin_correct", 0) / max(sums.get("pairs", 0), 1)
    return result
