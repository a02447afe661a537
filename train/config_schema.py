"""The schema of a run's configuration: every dotted key with its type, default, limits and doc
(config.py reads, merges and checks configs against it), and the names of tasks and metrics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..compiler.api import MAX_PARAMS
from ..compiler.expansion import MAX_NODES


@dataclass(frozen=True)
class Key:
    kind: type | tuple[type, ...]
    default: Any
    doc: str
    choices: tuple | None = None
    check: Callable[[Any], bool] | None = None
    need: str = ""  # what `check` demands, for the message
    known: tuple[str, ...] = ()  # names a value failing `check` may have meant (did you mean …?)


MAX_THREADS = 1024  # more than any machine's cores


def _positive(v) -> bool:
    return v > 0


def _non_negative(v) -> bool:
    return v >= 0


def _fraction(v) -> bool:
    return 0 < v < 1


SEED_LIMIT = 2**32 - 1  # every generator takes it, and seed * 100003 + epoch stays within int64


def _seed(v) -> bool:
    return 0 <= v <= SEED_LIMIT


# every validation metric some task measures (tasks.Task.metrics, bio_tasks.task_metrics); blocks'
# auxiliary losses add aux_* (aux_kl, aux_balance …)
METRICS = (
    "loss",
    "accuracy",
    "macro_f1",
    "auroc",
    "auprc",
    "perplexity",
    "mse",
    "iou",
    "dice",
    "wait_nll",
    "top_l_precision",
    "bin_accuracy",
)


def is_metric(name: str) -> bool:
    return name in METRICS or name.startswith("aux_")


TASKS = (
    "auto",
    "classification",
    "regression",
    "reconstruction",
    "language_model",
    "token_classification",
    "node_classification",
    "graph_classification",
    "next_event",
    "contact_map",
    "segmentation",
)

SCHEMA: dict[str, Key] = {
    "data.name": Key((str, type(None)), None, "built-in data set or a file path; none: chosen from the model"),
    "data.options": Key(dict, {}, "options of the data set (sizes, sequence length, tokenizer …)"),
    "data.val_fraction": Key(
        (float, type(None)),
        None,
        "share held out for validation (none: the data set's own, mostly 0.15)",
        check=_fraction,
        need="in (0, 1)",
    ),
    "data.test_fraction": Key(
        (float, type(None)),
        None,
        "share held out for the final test (none: the data set's own)",
        check=_fraction,
        need="in (0, 1)",
    ),
    "task": Key(str, "auto", "what the model is trained to do", choices=TASKS),
    "loss": Key(str, "auto", "the task's loss", choices=("auto", "cross_entropy", "mse", "bce")),
    "aux_weight": Key(
        (float, type(None)),
        None,
        "weight of the blocks' auxiliary losses (MoE balance, VAE KL); "
        "none: 1 for reconstruction (the VAE's ELBO), 0.01 otherwise (Switch's balance weight; a "
        "full KL would collapse a classifier's latent)",
        check=_non_negative,
        need="at least 0",
    ),
    "optimizer.name": Key(str, "adamw", "optimizer", choices=("adamw", "adam", "sgd")),
    "optimizer.lr": Key(
        (float, type(None)), None, "learning rate (none: the data set's default)", check=_positive, need="above 0"
    ),
    "optimizer.weight_decay": Key(float, 0.0, "decoupled weight decay", check=_non_negative, need="at least 0"),
    "optimizer.momentum": Key(float, 0.9, "SGD momentum", check=_non_negative, need="at least 0"),
    "optimizer.grad_clip": Key(
        float, 1.0, "clip the global gradient norm (0: off)", check=_non_negative, need="at least 0"
    ),
    "schedule.name": Key(str, "cosine", "learning-rate schedule over the run", choices=("constant", "cosine")),
    "schedule.warmup_epochs": Key(int, 0, "linear warm-up", check=_non_negative, need="at least 0"),
    "epochs": Key(
        (int, type(None)),
        None,
        "passes over the training set (none: the data set's default)",
        check=_positive,
        need="at least 1",
    ),
    "batch_size": Key(
        (int, type(None)),
        None,
        "examples per step, the global batch over all processes (none: the data set's default)",
        check=_positive,
        need="at least 1",
    ),
    "precision": Key(str, "fp32", "fp32, bf16 autocast or fp16 autocast (CUDA)", choices=("fp32", "bf16", "fp16")),
    "device": Key(str, "auto", "auto picks CUDA when present", choices=("auto", "cpu", "cuda")),
    "compile": Key(bool, False, "run the model under torch.compile"),
    "seed": Key(int, 0, "fixes weights, splits, shuffling and dropout", check=_seed, need=f"from 0 to {SEED_LIMIT:,}"),
    "threads": Key(
        int,
        0,
        "CPU threads for torch (0: auto, which is 1 on a machine with 2 cores or fewer, where "
        "two threads stall whenever a neighbour takes a core, and torch's default otherwise)",
        check=lambda v: 0 <= v <= MAX_THREADS,  # 100,000 threads crashed torch's thread pool (SIGSEGV)
        need=f"from 0 to {MAX_THREADS}",
    ),
    "checkpoint.every": Key(
        int, 1, "write the last-epoch checkpoint every N epochs", check=_positive, need="at least 1"
    ),
    "early_stopping.metric": Key(
        str,
        "auto",
        "validation metric watched (auto: the task's main one)",
        check=lambda v: v == "auto" or is_metric(v),
        need="a metric (" + ", ".join(METRICS) + ") or auto",
        known=("auto", *METRICS),
    ),
    "early_stopping.patience": Key(
        int,
        0,
        "epochs without improvement before stopping (0: never stop early)",
        check=_non_negative,
        need="at least 0",
    ),
    "out": Key((str, type(None)), None, "run directory (default runs/<model>-<timestamp>)"),
    "max_nodes": Key(
        int, MAX_NODES, "refuse a model that expands to more nodes (E217)", check=_positive, need="at least 1"
    ),
    "max_params": Key(
        int, MAX_PARAMS, "refuse a model with more parameters (E217)", check=_positive, need="at least 1"
    ),
    "memory_check": Key(
        bool, True, "refuse to start when weights, gradients and optimizer state would not fit in free memory"
    ),
    "init_from": Key(
        (str, type(None)),
        None,
        "start from published weights: a Hugging Face model directory, a .safetensors file or a run (docs/weights.md)",
    ),
    "freeze": Key(
        list,
        [],
        "nodes whose parameters stay fixed: names as `cramnet summary` shows them, or module paths (pre_ln.0)",
        check=lambda v: all(isinstance(n, str) for n in v),
        need="a list of node names",
    ),
    "optimizer.new_lr": Key(
        (float, type(None)),
        None,
        "learning rate of the parameters init_from did not load, such as a new head (none: optimizer.lr)",
        check=_positive,
        need="above 0",
    ),
    "distributed.strategy": Key(
        str,
        "ddp",
        "ddp: every process holds the whole model; fsdp: weights, gradients and optimizer state sharded "
        "over the processes, gathered one repeated layer at a time (docs/distributed.md)",
        choices=("ddp", "fsdp"),
    ),
    "distributed.offload": Key(bool, False, "fsdp: keep the shards and the optimizer step on the CPU"),
    "distributed.checkpoint_layers": Key(
        bool, False, "recompute each repeated layer's activations in the backward pass (less memory, more time)"
    ),
    "distributed.memory_limit_gb": Key(
        (float, type(None)),
        None,
        "memory one device may use, for the plan `train` checks before it starts (none: the device's own)",
        check=_positive,
        need="above 0",
    ),
}
