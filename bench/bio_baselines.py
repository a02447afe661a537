"""Reference points for the synthetic biological sets, on the same test splits the specs are scored
on (seed 0), so that the README's results can be read against something:

- life_histories: next-event AUROC/AUPRC/accuracy of the codes' frequencies alone (no history) and
  of a bigram table (the last event alone);
- cell_sentences: perplexity of the genes' frequencies alone (a unigram model);
- families: top-L precision of a ranking that knows nothing (the long-range contact density).

    python bench/bio_baselines.py
"""

from __future__ import annotations

import torch

from cramnet.blocks.tensor_type import TensorType
from cramnet.train import metrics
from cramnet.train.bio_tasks import distance_bins
from cramnet.train.data import load_data

HISTORY = {"codes": TensorType(("visits",), "tokens"), "ages": TensorType(("visits", 1), "float")}
EVO = {
    "msa": TensorType(("sequences", "residues", 32), "float"),
    "pair": TensorType(("residues", "residues", 16), "float"),
}


def next_event_scores(probabilities: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    counted = target != -100
    p, t = probabilities[counted], target[counted]
    positive = torch.nn.functional.one_hot(t, p.shape[-1]).bool()
    auroc, auprc = metrics.auroc_auprc(metrics.score_counts(p.flatten(), positive.flatten()))
    return {"auroc": auroc, "auprc": auprc, "accuracy": float((p.argmax(-1) == t).float().mean())}


def life_history_baselines() -> None:
    data = load_data("life_histories", HISTORY, "auto", 0, (None, None), {}, 1270)
    codes = data.classes
    train, test = data.train, data.test
    seen = train.target != -100
    frequency = torch.bincount(train.target[seen], minlength=codes).float() + 1
    frequency /= frequency.sum()
    marginal = frequency.expand(*test.inputs["codes"].shape, codes)
    bigram = torch.ones(codes, codes)  # add-one counts of (this event, next event)
    bigram.index_put_((train.inputs["codes"][seen], train.target[seen]), torch.ones(int(seen.sum())), accumulate=True)
    bigram /= bigram.sum(1, keepdim=True)
    for name, probabilities in (("frequencies", marginal), ("last event", bigram[test.inputs["codes"]])):
        scores = next_event_scores(probabilities, test.target)
        print(f"life_histories, {name}: " + ", ".join(f"{k} {v:.3f}" for k, v in scores.items()))


def sentence_baseline() -> None:
    genes = {"genes": TensorType(("rank",), "tokens")}
    data = load_data("cell_sentences", genes, "auto", 0, (None, None), {}, 20004)
    seen = data.train.target[data.train.target != -100]
    frequency = torch.bincount(seen, minlength=data.classes).float() + 1
    frequency /= frequency.sum()
    asked = data.test.target[data.test.target != -100]
    perplexity = float(torch.exp(-frequency[asked].log().mean()))
    print(f"cell_sentences, gene frequencies alone: perplexity {perplexity:.1f} (uniform: {data.classes - 4})")


def family_baseline() -> None:
    data = load_data("families", EVO, "auto", 0, (None, None), {}, None)
    distances = data.test.target
    residues = distances.shape[1]
    index = torch.arange(residues)
    far = (index[None, :] - index[:, None]) >= 6
    edges, below = distance_bins(64)  # the contact cut-off of the task: the last bin edge under 8 Å
    density = float((distances[:, far] <= edges[below - 1]).float().mean())
    print(f"families: long-range contact density (top-L precision of a blind ranking) {density:.3f}")


if __name__ == "__main__":
    torch.set_num_threads(1)
    life_history_baselines()
    sentence_baseline()
    family_baseline()
