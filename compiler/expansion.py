"""What expanding a model works with: where a body is being expanded (`Context`) and the budget
that bounds the work (`Budget`, E217/E218). What it produces is in `model_graph.py`.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, replace

from ..dsl.errors import Span, SpecError
from .evaluate import Bindings
from .loader import SpecModule
from .model_graph import GraphScope

# How large a model may expand (docs/errors.md, E217 and E218): `* N` multiplies, so a few bytes of
# spec can ask for any number of nodes; the budget is spent while expanding, so such a spec fails
# in moments instead of filling memory. `check_spec(max_nodes=…)` and `--max-nodes` raise it.
MAX_NODES = 100_000
STEPS_PER_NODE = 4  # expansion steps (stages, bodies) allowed per node: bodies that build nothing cost too
MAX_EXPANSION_DEPTH = 100  # bodies, groups and block calls inside one another, as expanded


class ExpansionLimit(Exception):
    """The model grew past a limit while being expanded; `error` says where."""

    def __init__(self, error: SpecError):
        super().__init__(error.message)
        self.error = error


@dataclass
class Budget:
    """What one model's expansion may still spend, shared with the builders of its experts."""

    max_nodes: int = MAX_NODES
    nodes: int = 0
    steps: int = 0
    depth: int = 0  # bodies, groups and block calls open now (experts' included: they share the stack)

    def add_node(self, span: Span) -> None:
        self.nodes += 1
        if self.nodes > self.max_nodes:
            raise ExpansionLimit(
                SpecError(
                    code="E217",
                    message=f"the model expands to more than {self.max_nodes:,} nodes (block calls); "
                    "this call is past the limit",
                    span=span,
                    hint="`* N` and `repeat N` multiply: check their counts; a model this large is allowed "
                    "with --max-nodes (check_spec(max_nodes=…))",
                )
            )

    def step(self, span: Span) -> None:
        self.steps += 1
        if self.steps > self.max_nodes * STEPS_PER_NODE:
            raise ExpansionLimit(
                SpecError(
                    code="E217",
                    message=f"expanding the model takes more than {self.max_nodes * STEPS_PER_NODE:,} steps",
                    span=span,
                    hint="`* N` and `repeat N` multiply: check their counts (--max-nodes raises the limit)",
                )
            )


# the budget of the expansion under way: expert bodies are built by builders of their own
_BUDGET: ContextVar[Budget | None] = ContextVar("cramnet_expansion_budget", default=None)


@dataclass(frozen=True)
class Context:
    """Where a body is being expanded: its file, constants, bound values and node-name prefix."""

    module: SpecModule
    params: dict
    values: Bindings
    prefix: str = ""
    stack: tuple[tuple[str, Span], ...] = ()
    scopes: tuple[GraphScope, ...] = ()

    def within(self, scope: GraphScope) -> Context:
        return replace(self, scopes=self.scopes + (scope,))

    def nested(self, current: str) -> Context:
        """A `{ }` body: sees the enclosing values, its input is `current`."""
        values = Bindings(self.values)
        values.local["in"] = current
        return replace(self, values=values)
