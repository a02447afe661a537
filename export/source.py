"""What an export reads: a checked model, and the module whose weights go out with it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torch import nn


@dataclass
class ExportSource:
    """A checked spec (`CheckedModel`) and, where weights matter, the module that holds them.

    `from_spec` builds fresh weights; `from_run` takes a trained run's spec and weights.
    """

    checked: object  # CheckedModel
    module: nn.Module | None = None
    seed: int | None = 0
    tokenizer: object = None  # a run's, where it has one
    alphabet: str | None = None  # the sequence alphabet a run read its data with (protein, dna, rna)

    @classmethod
    def from_spec(cls, spec: str | Path, model: str | None = None, plugins: list[str] = (), seed: int | None = 0):
        from ..compiler import check_spec

        return cls(check_spec(spec, model, list(plugins)), None, seed)

    @classmethod
    def from_run(cls, run: str | Path):
        from ..train import load_run

        trained = load_run(run)
        return cls(trained.checked, trained.module, None, trained.tokenizer, trained.info.get("alphabet"))

    @property
    def trained(self) -> bool:
        return self.seed is None and self.module is not None

    def built(self) -> nn.Module:
        if self.module is None:
            self.module = self.checked.build(self.seed)
        return self.module

    @property
    def name(self) -> str:
        return self.checked.name
