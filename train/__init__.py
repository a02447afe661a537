"""Training: data sets, tasks, the loop, checkpoints, run directories and distribution.

    from cramnet.train import train, defaults, load_run
    result = train("specs/digits_cnn.cram", defaults())
    run = load_run(result.out)          # run.module (trained, eval mode), run.config

Names load on first use, so tools that need one piece (bench/gpu_train.py on a bare GPU image) do
not import YAML, rich or matplotlib.
"""

from importlib import import_module

_EXPORTS = {
    "SCHEMA": "config_schema",
    "apply_sets": "config",
    "defaults": "config",
    "read_config": "config",
    "TrainError": "errors",
    "TrainedRun": "inference",
    "evaluate_run": "inference",
    "generate": "generation",
    "load_run": "inference",
    "predict_file": "predictions",
    "RunResult": "loop",
    "train": "loop",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'cramnet.train' has no attribute {name!r}")
    return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
