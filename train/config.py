"""A run's configuration: one schema of dotted keys with types, defaults and limits; YAML files and
`--set key=value` overrides are checked against it, and a wrong key names the nearest valid one."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..compiler.api import MAX_PARAMS
from ..compiler.expansion import MAX_NODES
from ..dsl.errors import did_you_mean
from .errors import TrainError


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


def defaults() -> dict:
    config: dict = {}
    for dotted, key in SCHEMA.items():
        put(config, dotted, copy.deepcopy(key.default))
    return config


def put(config: dict, dotted: str, value: Any) -> None:
    """Set a dotted key (`optimizer.lr`) in a nested config tree."""
    *parents, last = dotted.split(".")
    for part in parents:
        config = config.setdefault(part, {})
    config[last] = value


def get(config: Mapping, dotted: str) -> Any:
    for part in dotted.split("."):
        config = config[part]
    return config


def _flatten(tree: Mapping, where: str, prefix: str = "") -> dict[str, Any]:
    flat = {}
    for name, value in tree.items():
        if not isinstance(name, str):
            raise TrainError(f"{where}: key {name!r} is not a name")
        dotted = prefix + name
        if isinstance(value, Mapping) and dotted not in SCHEMA:  # a section (or a misspelt one)
            flat.update(_flatten(value, where, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def check_value(dotted: str, value: Any, where: str) -> Any:
    """The value converted to the key's type, or a TrainError naming the key."""
    if dotted not in SCHEMA:
        keys = [k for k in SCHEMA if k.startswith(dotted + ".")]
        if keys:  # `optimizer: 0.01`: a known section given a value
            hint = f"set its keys: {', '.join(keys)}"
            raise TrainError(f"{where}: '{dotted}' is a section of keys, not a value", hint)
        raise TrainError(f"{where}: unknown key '{dotted}'", _suggest(dotted))
    key = SCHEMA[dotted]
    kinds = key.kind if isinstance(key.kind, tuple) else (key.kind,)
    if float in kinds and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if float in kinds and isinstance(value, str):  # YAML 1.1 reads 1e-3 (no dot) as a string
        try:
            value = float(value)
        except ValueError:
            pass
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        names = " or ".join("none" if k is type(None) else k.__name__ for k in kinds)
        raise TrainError(f"{where}: '{dotted}' must be {names}, not {value!r}", f"{dotted}: {key.doc}")
    if isinstance(value, float) and not math.isfinite(value):  # inf passes `above 0`, and nan every test
        raise TrainError(f"{where}: '{dotted}' must be a finite number, not {value!r}", f"{dotted}: {key.doc}")
    if key.choices is not None and value not in key.choices:
        hint = did_you_mean(str(value), key.choices) or f"one of: {', '.join(key.choices)}"
        raise TrainError(f"{where}: '{dotted}' cannot be {value!r}", hint)
    if key.check is not None and value is not None and not key.check(value):
        hint = did_you_mean(str(value), key.known) if key.known else None
        raise TrainError(f"{where}: '{dotted}' must be {key.need}, not {value!r}", hint or f"{dotted}: {key.doc}")
    return value


def _suggest(dotted: str) -> str:
    last = dotted.split(".")[-1]
    same_leaf = [k for k in SCHEMA if k.split(".")[-1] == last]
    if same_leaf:
        return f"did you mean '{same_leaf[0]}'?"
    sections = sorted({k.split(".")[0] for k in SCHEMA})
    return did_you_mean(dotted, list(SCHEMA)) or did_you_mean(dotted, sections) or "valid keys: " + ", ".join(SCHEMA)


def merge(config: dict, tree: Mapping, where: str) -> dict:
    """`config` with every key of the nested `tree` checked and set."""
    result = copy.deepcopy(config)
    for dotted, value in _flatten(tree, where).items():
        value = check_value(dotted, value, where)
        if dotted == "data.options":  # options add up, so `--set data.options.length=64` keeps the others
            value = {**get(result, dotted), **value}
        put(result, dotted, value)
    return result


MAX_CONFIG_BYTES = 1 << 20  # a config is a page of keys; /dev/zero must not be read forever
MAX_YAML_ALIASES = 16  # `*name` references: a few are handy, hundreds are an alias bomb
MAX_INT_DIGITS = 100  # every integer key is bounded far below 10**100


def load_yaml(text: str):
    """YAML data as the safe loader reads it, but refusing duplicate keys (the second silently won)
    and more than MAX_YAML_ALIASES aliases (a 711-byte file of nested aliases expands to gigabytes)."""
    import yaml

    class StrictLoader(yaml.SafeLoader):
        aliases = 0

        def compose_node(self, parent, index):
            if self.check_event(yaml.AliasEvent):
                self.aliases += 1
                if self.aliases > MAX_YAML_ALIASES:
                    mark = self.peek_event().start_mark
                    raise yaml.composer.ComposerError(
                        None, None, f"more than {MAX_YAML_ALIASES} aliases (*name): refused", mark
                    )
            return super().compose_node(parent, index)

        def construct_mapping(self, node, deep=False):
            seen = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                if not isinstance(key, (str, int, float, bool)):
                    continue  # not hashable: the safe loader refuses it itself
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"key {key!r} appears twice", key_node.start_mark
                    )
                seen.add(key)
            return super().construct_mapping(node, deep)

        def construct_yaml_int(self, node):
            if len(node.value) > MAX_INT_DIGITS:  # int() refuses over 4,300 digits with a ValueError
                raise yaml.constructor.ConstructorError(
                    None, None, f"an integer of {len(node.value)} digits: too large for any key", node.start_mark
                )
            return super().construct_yaml_int(node)

    StrictLoader.add_constructor("tag:yaml.org,2002:int", StrictLoader.construct_yaml_int)
    return yaml.load(text, Loader=StrictLoader)  # noqa: S506 - a SafeLoader subclass: data only


def _config_text(path: Path) -> str:
    """The text of a config file, read with a bound, or a TrainError saying why it is not one."""
    try:
        with Path(path).open("rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
    except OSError as error:
        raise TrainError(f"cannot read config {path}: {error.strerror or error}") from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise TrainError(f"{path}: the config is UTF-16 text", "save it as UTF-8")
    if b"\x00" in data:
        raise TrainError(f"{path}: not a config: it is a binary file", "a config is a YAML text file (run.yaml)")
    if len(data) > MAX_CONFIG_BYTES:
        raise TrainError(f"{path}: larger than {MAX_CONFIG_BYTES >> 20} MiB: too large for a config")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise TrainError(f"{path}: not UTF-8 text (byte {error.start})", "save it as UTF-8") from None


def read_config(path: Path) -> dict:
    """Defaults overridden by a YAML file (safe loader: data only)."""
    return merge(defaults(), read_config_tree(path), str(path))


def read_config_tree(path: Path) -> Mapping:
    """A config file's keys as written (not yet checked or merged), or a TrainError saying why it is
    not a config: read with a bound, strict YAML, a mapping."""
    import yaml

    text = _config_text(path)
    try:
        tree = load_yaml(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise TrainError(f"{path}: not valid YAML{where}: {getattr(error, 'problem', error)}") from None
    except RecursionError:  # the YAML reader recurses once per level of nesting
        raise TrainError(f"{path}: nested too deeply to be a config") from None
    if tree is None:
        return {}
    if not isinstance(tree, Mapping):
        raise TrainError(f"{path}: a config is a mapping of keys to values, not a {type(tree).__name__}")
    return tree


def apply_sets(config: dict, items: list[str]) -> dict:
    """`--set optimizer.lr=0.01` overrides; the value is read as YAML (numbers, true/false, lists)."""
    import yaml

    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            raise TrainError(f"--set {item!r} is not KEY=VALUE", "write --set optimizer.lr=0.01")
        try:
            value = load_yaml(text) if text.strip() else None
        except yaml.constructor.ConstructorError as error:  # YAML, but not a value a key could hold
            raise TrainError(f"--set {name.strip()}: {error.problem}") from None
        except yaml.YAMLError:
            value = text
        except RecursionError:  # the YAML reader recurses once per level of nesting
            raise TrainError(f"--set {name.strip()}: nested too deeply to be a value") from None
        config = merge(config, _nest(name.strip(), value), "--set")
    return config


def _nest(dotted: str, value: Any) -> dict:
    tree: dict = {}
    put(tree, dotted, value)
    return tree


def dump(config: Mapping) -> str:
    import yaml

    return yaml.safe_dump(dict(config), sort_keys=False)
