"""Predictions of a finished run for every example of a file: a .csv of classes and probabilities
(or values), an .npz of every output, record IDs kept for biological files; a language model's
prompts, one a line of a .txt."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from .data.files import input_arrays, read_arrays
from .errors import TrainError
from .inference import PREDICT_BATCH, TrainedRun, open_run


def predict_file(
    run: str | Path, file: Path, output: Path | None = None, weights: str | Path | None = None, device: str = "cpu"
) -> Path:
    """Predictions for every example of `file` (an .npz, .safetensors or .csv holding the inputs, as
    for training, or a biological file with its record IDs); written as .csv (classes and
    probabilities, or values) or .npz (raw outputs). An .npz holds the task's output as `prediction`
    and every output of the model by its name (a VAE's `reconstruction` and `z`); a .csv adds the
    columns of other outputs with one vector per example. A language-model run reads a .txt file
    instead: one prompt per line (`predict_text`). The model runs on `device`."""
    from .bio_predict import bio_inputs

    trained = open_run(run, weights, device)
    if trained.info["task"] == "language_model":  # prompts, one a line (anything else is refused there)
        return predict_text(trained, file, output)
    found = bio_inputs(trained, file)
    if found is not None:  # FASTA, .h5ad, event tables, alignments: with their record IDs
        inputs, ids = found
    elif file.suffix.lower() == ".txt" and weights is not None:  # no run: no task, no tokenizer of its own
        raise TrainError(
            f"{file}: predict reads prompts from a .txt file for a language-model run; a spec with --weights "
            "reads its inputs from an .npz, .safetensors or .csv file (token ids, laid out as for training)",
            f"to continue a prompt with these weights: cramnet generate {run} --weights {weights} --prompt TEXT",
        )
    elif file.suffix.lower() == ".txt":
        raise TrainError(
            f"{file}: a .txt file holds prompts for a language model; {trained.path} is a {trained.info['task']} run",
            "give its inputs as an .npz, .safetensors or .csv file, laid out as for training",
        )
    else:
        inputs, ids = input_arrays(file, read_arrays(file, targets=False), trained.checked.input_types), None
    outputs = _predict_in_batches(trained, inputs, file)
    pred = outputs[trained.info["output"]]
    output = output or predictions_path(file, ".csv" if pred.dim() == 2 else ".npz")
    if not output.parent.is_dir():
        raise TrainError(f"cannot write {output}: the directory {output.parent} does not exist")
    try:
        return _write_predictions(output, outputs, trained, ids)
    except OSError as error:
        raise TrainError(f"cannot write {output}: {error.strerror or error}") from None


def predictions_path(file: Path, suffix: str) -> Path:
    """The default output beside the input, its whole name kept (more.fasta.predictions.csv): the
    predictions of more.fasta and of more.h5ad must not overwrite each other."""
    return file.with_name(f"{file.name}.predictions{suffix}")


def _write_predictions(output: Path, outputs: dict[str, torch.Tensor], trained: TrainedRun, ids: list | None) -> Path:
    watched, task, labels = trained.info["output"], trained.info["task"], trained.info.get("labels")
    pred = outputs[watched]
    if output.suffix == ".npz":
        named = {name: value.numpy() for name, value in outputs.items()}
        np.savez(output, prediction=pred.numpy(), **named, **({"id": np.array(ids)} if ids else {}))
        return output
    if pred.dim() != 2:
        raise TrainError(
            f"predictions of shape {list(pred.shape[1:])} per example do not fit a .csv",
            "write them to an .npz file (-o predictions.npz)",
        )
    if task in ("classification", "graph_classification", "node_classification"):
        names = labels or [str(c) for c in range(pred.shape[1])]
        header = ["class"] + [f"p_{n}" if labels else f"p{n}" for n in names]
        rows = [
            [names[label] if label < len(names) else str(label)] + [f"{p:.6g}" for p in row]
            for label, row in zip(pred.argmax(-1).tolist(), pred.softmax(-1).tolist())
        ]
    else:
        header = [f"y{i}" for i in range(pred.shape[1])]
        rows = [[f"{v:.6g}" for v in row] for row in pred.tolist()]
    for name, value in outputs.items():  # other outputs with a vector per example (a latent `z`): more columns
        if name != watched and value.dim() == 2 and len(value) == len(pred):
            header += [f"{name}{i}" for i in range(value.shape[1])]
            rows = [row + [f"{v:.6g}" for v in extra] for row, extra in zip(rows, value.tolist())]
    if ids is not None:  # the record each prediction is for, first
        header, rows = ["id", *header], [[_csv_field(i), *row] for i, row in zip(ids, rows)]
    output.write_text("\n".join(",".join(row) for row in [header, *rows]) + "\n")
    return output


def _predict_in_batches(trained: TrainedRun, inputs: dict[str, torch.Tensor], file: Path) -> dict[str, torch.Tensor]:
    """Every output of the model for every example, by output name, computed a batch at a time (a file
    of graphs in one pass: a node's prediction needs its whole graph)."""
    names = trained.checked.inputs
    if any(trained.checked.input_types[n].kind == "graph" for n in names):
        (graph,) = (vars(inputs[n]) for n in names)  # one graph input (input_arrays refuses more)
        on_device = {k: v.to(trained.device) if isinstance(v, torch.Tensor) else v for k, v in graph.items()}
        with torch.no_grad():
            outputs = trained.module(SimpleNamespace(**on_device))
        values = outputs if isinstance(outputs, tuple) else (outputs,)
        return {name: value.float().cpu() for name, value in zip(trained.checked.outputs, values)}
    count = len(next(iter(inputs.values())))
    if count == 0:
        raise TrainError(f"{file} holds no examples")
    masks = [f"{n}_mask" for n in names if f"{n}_mask" in inputs]  # padding masks, where the file has them
    parts: dict[str, list[torch.Tensor]] = {name: [] for name in trained.checked.outputs}
    with torch.no_grad():
        for start in range(0, count, PREDICT_BATCH):
            rows = slice(start, start + PREDICT_BATCH)
            given = {name: inputs[name][rows].to(trained.device) for name in [*names, *masks]}
            outputs = trained.module(*[given[n] for n in names], **{m: given[m] for m in masks})
            for name, value in zip(parts, outputs if isinstance(outputs, tuple) else (outputs,)):
                parts[name].append(value.float().cpu())
    return {name: torch.cat(values) for name, values in parts.items()}


def predict_text(trained: TrainedRun, file: Path, output: Path | None = None) -> Path:
    """A language model's predictions for a .txt file, one prompt per line (the last `length` tokens
    of each, as in training): a .csv row per line with the likeliest next token, its probability and
    the model's perplexity on the line itself (exp of the mean loss of predicting each token from
    those before it; empty for a one-token line)."""
    from .data.text import read_text

    if file.suffix.lower() != ".txt":
        raise TrainError(
            f"{file}: a language-model run predicts from a .txt file, one prompt per line",
            "write the prompts to a .txt file, or use `cramnet generate RUN --prompt TEXT` to continue one",
        )
    tokenizer = trained.tokenizer
    length = trained.config["data"]["options"].get("length", 64)
    lines = [line for line in read_text(file).splitlines() if line]
    if not lines:
        raise TrainError(f"{file} has no prompts (one per line)")
    encoded = [tokenizer.encode(line)[-length:] for line in lines]
    for line, ids in zip(lines, encoded):
        if not ids:
            raise TrainError(f"{file}: the line {line[:40]!r} has no character the model's tokenizer knows")
    rows = [["prompt", "next", "p_next", "perplexity"]]
    for line, ids, logits in zip(lines, encoded, _line_logits(trained, encoded)):
        probabilities = logits[-1].softmax(-1)
        best = int(probabilities.argmax())
        loss = torch.nn.functional.cross_entropy(logits[:-1], torch.tensor(ids[1:])) if len(ids) > 1 else None
        rows.append(
            [
                _csv_text(line),
                _csv_text(tokenizer.decode([best])),
                f"{float(probabilities[best]):.6g}",
                "" if loss is None else f"{float(loss.exp()):.6g}",
            ]
        )
    output = output or predictions_path(file, ".csv")
    if output.suffix.lower() != ".csv":
        raise TrainError(f"a language model's predictions are a .csv table, not {output.suffix or 'no suffix'}")
    output.write_text("\n".join(",".join(row) for row in rows) + "\n")
    return output


def _line_logits(trained: TrainedRun, encoded: list[list[int]], batch: int = 64):
    """Each line's (tokens, vocab) logits, in order: lines of one length run together, so no line is
    padded and any model — causal or not — sees each exactly as alone."""
    by_length: dict[int, list[int]] = {}
    for index, ids in enumerate(encoded):
        by_length.setdefault(len(ids), []).append(index)
    logits: list[torch.Tensor | None] = [None] * len(encoded)
    vocab = trained.tokenizer.vocab
    for indices in by_length.values():
        for start in range(0, len(indices), batch):
            part = indices[start : start + batch]
            with torch.no_grad():
                outputs = trained.module(torch.tensor([encoded[i] for i in part], device=trained.device))
            values = (outputs[0] if isinstance(outputs, tuple) else outputs)[..., :vocab].float().cpu()
            for i, row in zip(part, values):
                logits[i] = row
    return logits


def _csv_text(text: str) -> str:
    """A text cell for a csv: quoted, quotes doubled, control characters escaped."""
    shown = text.encode("unicode_escape").decode("ascii") if not text.isprintable() else text
    return '"' + shown.replace('"', '""') + '"'


def _csv_field(text: str) -> str:
    return f'"{text.replace(chr(34), chr(34) * 2)}"' if any(c in text for c in ',"\n') else text
