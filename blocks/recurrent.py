"""Recurrent family: rnn, gru, lstm — PyTorch's own modules (cuDNN on a GPU), batch first.

A recurrent stage returns its sequence of outputs (`return = sequence`) or the final output
(`return = last`: the last layer's final hidden state, both directions concatenated), and always
keeps its final state, so a decoder can start from an encoder's: `lstm(256, state = enc)`.
Padding masks are honoured by packing the sequences, so padding never reaches the state. With a
`Decoding` attached (blocks/decoding.py), a stage given no initial state goes on from the state its
call left in the pass before.
"""

from __future__ import annotations

import torch
from torch import nn

from .registry import Arg, BlockSpec, Construct, Family, ShapeError, block
from .shape_rules import known_size

RECURRENT = Family(
    "recurrent",
    "#dcc8ef",
    "RNN, GRU and LSTM layers (PyTorch's modules).",
    paper="Hochreiter & Schmidhuber 1997; Cho et al. 2014",
)

_GATES = {"rnn": 1, "gru": 3, "lstm": 4}


class _Recurrent:
    """Shared plumbing of the three recurrent modules: batch first, masks, initial state, `return` mode."""

    decoding = None

    def __init__(self, return_last: bool = False, **kwargs):
        super().__init__(batch_first=True, **kwargs)
        self.return_last = return_last

    def forward(self, x, state=None, mask=None):
        cache = self.decoding.slot() if self.decoding is not None and state is None else None
        if cache is not None:  # decoding: go on from the state this call left in the pass before
            state = cache.get("state")
        out, state = self._read(x, state, mask)
        if cache is not None:
            cache["state"] = state
        return out, state

    def _read(self, x, state, mask):
        if _cpu_autocast(x):  # oneDNN's bf16 recurrent kernels need AVX-512 BF16: fp32 on every CPU
            with torch.autocast("cpu", enabled=False):
                return self._read(x.float(), _float(state), mask)
        if mask is not None:
            lengths = mask.sum(dim=1).clamp(min=1).cpu()
            packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            packed_out, state = super().forward(packed, state)
            out, _ = nn.utils.rnn.pad_packed_sequence(packed_out, batch_first=True, total_length=x.shape[1])
        else:
            out, state = super().forward(x, state)
        if self.return_last:
            out = _last_output(state[0] if isinstance(state, tuple) else state, self.bidirectional)
        return out, state

    @staticmethod
    def chain(stages, x, mask=None):
        """Consecutive stages of one kind — `lstm(512) -> lstm(512)` — as one multi-layer call, each
        stage keeping its own weights (and checkpoint keys): cuDNN then overlaps the layers' time steps,
        which separate calls cannot. Without initial states; dropout only inside the last stage's
        layers would change, so every stage must have none. With a padding mask (or a stage with
        forward hooks) the stages run in turn. Returns the last stage's output and each stage's
        final state (`out, *states`), as calling them in turn would; generated code calls it for a
        run of calls that `chains` allows.

        Shapes: x (B, T, d) -> (B, T, hidden·directions) or (B, hidden·directions) (`return = last`),
        and per stage its state (layers·directions, B, hidden)."""
        first, last = stages[0], stages[-1]
        directions = 2 if first.bidirectional else 1
        same = {(type(s), s.hidden_size, s.bidirectional, s.bias, s.proj_size) for s in stages}
        fed = all(s.input_size == first.hidden_size * directions for s in stages[1:])
        if len(same) > 1 or not fed or any(s.dropout for s in stages) or any(s.return_last for s in stages[:-1]):
            raise ValueError("chain: stages of one kind, width and direction, without dropout, sequences between")
        hooked = any(s._forward_hooks or s._forward_pre_hooks for s in stages)  # a hook sees its stage's call
        carried = first.decoding is not None  # decoding: each stage goes on from its own state
        if mask is not None or hooked or carried or _cpu_autocast(x):  # the calls in turn (each leaves autocast)
            states = []
            for stage in stages:
                x, state = stage(x, mask=mask)
                states.append(state)
            return (x, *states)
        import warnings

        layers = sum(s.num_layers for s in stages)
        zeros = x.new_zeros(layers * directions, x.shape[0], first.hidden_size)
        weights = [w for s in stages for w in s._flat_weights]
        run = getattr(torch._VF, first.mode.lower())  # lstm, gru, rnn_tanh: what nn.LSTM, GRU, RNN call
        with warnings.catch_warnings():  # the stages' weights are not one buffer: cuDNN copies them (small) each call
            warnings.filterwarnings("ignore", "RNN module weights are not part")
            hx = (zeros, zeros) if first.mode == "LSTM" else zeros
            result = run(x, hx, weights, first.bias, layers, 0.0, first.training, first.bidirectional, True)
        out, final = result[0], result[1:]  # final: (h,) or (h, c), each (layers · directions, B, hidden)
        states, start = [], 0
        for s in stages:
            rows = slice(start, start + s.num_layers * directions)
            states.append(tuple(t[rows] for t in final) if first.mode == "LSTM" else final[0][rows])
            start = rows.stop
        if last.return_last:
            out = _last_output(final[0], first.bidirectional)
        return (out, *states)


def _last_output(hidden, bidirectional: bool):
    """`return = last`: the last layer's final hidden state, both directions side by side: the
    states (layers · directions, B, H) -> (B, directions · H)."""
    directions = 2 if bidirectional else 1
    return torch.cat(tuple(hidden[-directions:]), dim=-1)


def _cpu_autocast(x) -> bool:
    return x.device.type == "cpu" and torch.is_autocast_enabled("cpu")


def _float(state):
    if state is None:
        return None
    return tuple(s.float() for s in state) if isinstance(state, tuple) else state.float()


class RNNBlock(_Recurrent, nn.RNN):
    """nn.RNN (tanh), batch first, with cramnet's `return` mode, masks and initial state."""


class GRUBlock(_Recurrent, nn.GRU):
    """nn.GRU, batch first, with cramnet's `return` mode, masks and initial state."""


class LSTMBlock(_Recurrent, nn.LSTM):
    """nn.LSTM, batch first, with cramnet's `return` mode, masks and initial state."""


def _returns_last(a) -> bool:
    return getattr(a, "return") == "last"  # `return` is the language's word, a Python keyword


_MODULES = {"rnn": RNNBlock, "gru": GRUBlock, "lstm": LSTMBlock}

_PAPERS = {
    "rnn": "Elman (1990) recurrent layer, h_t = tanh(W x_t + U h_{t-1} + b)",
    "gru": "gated recurrent unit (Cho et al. 2014)",
    "lstm": "long short-term memory (Hochreiter & Schmidhuber 1997), with forget gates (Gers et al. 2000)",
}


def _recurrent(kind: str) -> BlockSpec:
    def features(inputs) -> int:
        x = inputs[0]
        if x.rank != 2:
            raise ShapeError(
                f"expects a sequence [seq, d], got {x}",
                "flatten or reshape to [seq, d]; images can be read row by row as [H, C·W]",
            )
        return known_size(x.dims[1], "the feature (last) dimension")

    def check_state(inputs, a) -> None:
        if a.state is None:
            return
        source = a.state
        if source.block != kind:
            raise ShapeError(
                f"state = {source.node}: a {kind} can start from another {kind}'s final state, not a {source.block}'s"
            )
        theirs = source.args
        if (theirs.hidden, theirs.layers, theirs.bidirectional) != (a.hidden, a.layers, a.bidirectional):
            raise ShapeError(
                f"state = {source.node}: its state is hidden {theirs.hidden}, layers {theirs.layers}, bidirectional "
                f"{str(theirs.bidirectional).lower()}; this {kind} needs hidden {a.hidden}, layers {a.layers}, "
                f"bidirectional {str(a.bidirectional).lower()}"
            )

    def shape(inputs, a):
        features(inputs)
        check_state(inputs, a)
        if a.layers == 1 and a.dropout > 0:
            raise ShapeError("dropout acts between layers: it needs layers ≥ 2", "add layers = 2 or drop the dropout")
        width = a.hidden * (2 if a.bidirectional else 1)
        x = inputs[0]
        return x.with_dims([width] if _returns_last(a) else [x.dims[0], width])

    def params(inputs, a) -> int:
        gates, directions = _GATES[kind], 2 if a.bidirectional else 1
        total, width = 0, features(inputs)
        for _ in range(a.layers):
            per_direction = gates * a.hidden * (width + a.hidden) + (2 * gates * a.hidden if a.bias else 0)
            total += directions * per_direction
            width = directions * a.hidden
        return total

    def flops(inputs, out, a):
        steps = inputs[0].dims[0]
        return 2 * (params(inputs, a)) * steps  # each weight is used once per step and direction

    def chains(before, after) -> bool:  # `lstm(h) -> lstm(h)`: one multi-layer call (`chain`)
        same = (before.hidden, before.bidirectional, before.bias) == (after.hidden, after.bidirectional, after.bias)
        plain = before.state is None and after.state is None and before.dropout == 0 == after.dropout
        return same and plain and not _returns_last(before)

    def module(inputs, a) -> Construct:
        return Construct(
            _MODULES[kind],
            {
                "return_last": _returns_last(a),
                "input_size": features(inputs),
                "hidden_size": a.hidden,
                "num_layers": a.layers,
                "bias": a.bias,
                "dropout": a.dropout,
                "bidirectional": a.bidirectional,
            },
        )

    args = (
        Arg("hidden", "int", doc="hidden units per direction", low=1),
        Arg("layers", "int", 1, "stacked layers", low=1),
        Arg("bidirectional", "bool", False, "also read the sequence backwards; outputs are concatenated"),
        Arg("dropout", "float", 0.0, "dropout between stacked layers (training only)", low=0.0, below=1.0),
        Arg(
            "return",
            "enum",
            "sequence",
            "`sequence`: every step's output; `last`: the final output",
            choices=("sequence", "last"),
        ),
        Arg("bias", "bool", True, "learned biases (PyTorch keeps two per gate)"),
        Arg("state", "ref", None, f"start from the final state of this bound {kind} stage (encoder–decoder)"),
    )
    doc = (
        f"The {_PAPERS[kind]}, lowered to nn.{kind.upper()} (cuDNN on a GPU).\n\n"
        "Shapes: [seq, d] -> [seq, hidden·directions] (return = sequence) or [hidden·directions] (return = last)."
    )
    return block(
        kind,
        family="recurrent",
        doc=doc,
        args=args,
        params=params,
        flops=flops,
        module=module,
        masked=True,
        stateful=True,
        chains=chains,
        decodes=lambda inputs, a: not (a.bidirectional or _returns_last(a) or a.state is not None),
        example=("[6, 5]", f"{kind}(8, layers = 2, bidirectional = true)"),
    )(shape)


for _kind in _GATES:
    _recurrent(_kind)
