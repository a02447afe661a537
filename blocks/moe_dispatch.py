"""The mixture-of-experts module: routing, and three ways to run the experts on what is routed to them.

- `loop`: each expert once, on exactly its items (any experts; masks passed on);
- `vmap`: copies of one body as one batched call, each expert's items padded to the busiest's count,
  the copies' weights stacked and the body's forward vmapped over the experts;
- `grouped_mm`: copies of one body made of dense layers and token-wise operations between them
  (SwiGLU, the usual feed-forward) with the tokens sorted by expert and each dense layer one grouped
  GEMM (`torch._grouped_mm`, per-expert offsets into the sorted rows): no padding, no token dropped,
  no synchronisation with the host.

`MixtureOfExperts.paths` lists the ways a module can run; `dispatch` chooses one per call: `None`
(automatic, see `choose_path`) or a path's name. `vmap` and `grouped_mm` keep their stacked copy of
the experts' weights for the backward pass: sharded training (train/sharding.py), which frees each
layer's whole weights after its forward, turns `stack_weights` off, and the loop runs instead — but
in layers `checkpoint_layers` recomputes, which keep nothing and stack again only in backward.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# Token-wise operations a grouped body may hold between its dense layers, by the name they are traced
# under (`torch.fx`): each acts on one row (one token's features) alone and has no parameters.
ELEMENTWISE = frozenset(
    "relu relu6 gelu silu elu selu celu leaky_relu softplus hardswish hardsigmoid mish sigmoid tanh abs exp "
    "log sqrt rsqrt square neg clamp mul add sub div truediv pow".split()
)
# ... and those that mix one row's features along its last axis (named in `dim`)
ALONG_FEATURES = frozenset("softmax log_softmax normalize cat".split())
FUNCTION_MODULES = frozenset(
    {"torch", "torch.nn.functional", "torch._C._nn", "_operator", "torch._C._VariableFunctions"}
)
# parameter-free torch.nn modules a body may call, as the function each stands for
MODULE_FUNCTIONS = frozenset("ReLU GELU SiLU Tanh Sigmoid Identity Dropout".split())


class MixtureOfExperts(nn.Module):
    """Routes tokens or examples to the top-k of `experts` (any modules of one output shape)."""

    def __init__(self, dim, experts, top_k=1, route="token", z_loss=0.0):
        super().__init__()
        self.router = nn.Linear(dim, len(experts), bias=False)
        self.experts = nn.ModuleList(experts)
        self.top_k, self.route, self.z_loss = top_k, route, z_loss
        self.aux_loss = None
        self.dispatch = None  # None: choose per call; or one of `paths`
        self.stack_weights = True  # False: no stacked copy of the weights (the loop), as under FSDP
        copies = route == "token" and same_stateless_body(experts)
        self.plan = grouped_plan(experts[0]) if copies else None  # a plain object: not a submodule
        self.paths = ("grouped_mm",) * (self.plan is not None) + ("vmap",) * copies + ("loop",)
        # per dense layer of the plan, its module in each expert (read each call: no named_parameters walk)
        self.owners = [[e.get_submodule(layer) for e in experts] for layer in self.plan.layers] if self.plan else []

    def forward(self, x, mask=None):
        if self.route == "token":  # every position on its own: items (N, d)
            items, features, item_mask = x.reshape(-1, x.shape[-1]), x.reshape(-1, x.shape[-1]), None
        else:  # whole examples: the router reads their mean over positions
            items, item_mask = x, mask
            if x.dim() == 2:
                features = x
            elif mask is None:
                features = x.mean(dim=1)
            else:
                keep = mask[:, :, None].to(x.dtype)
                features = (x * keep).sum(dim=1) / keep.sum(dim=1).clamp(min=1)
        logits = self.router(features)  # (N, E)
        probabilities = logits.softmax(dim=-1)
        top_logits, chosen = logits.topk(self.top_k, dim=-1)  # (N, k)
        weights = top_logits.softmax(dim=-1)  # softmax over the chosen experts
        expert_of = chosen.reshape(-1)  # one entry per (item, choice)
        order = expert_of.argsort(stable=True)  # assignments sorted by expert
        # a scatter, not bincount: bincount waits for the GPU to learn its output's size
        counts = torch.zeros(len(self.experts), dtype=torch.long, device=x.device)
        counts = counts.scatter_add_(0, expert_of, torch.ones_like(expert_of))
        rows, gate = order // self.top_k, weights.reshape(-1)[order]  # the item and mixing weight of each
        path = self.choose_path(items)
        if path == "grouped_mm":
            output = self.dispatch_grouped_mm(items, rows, gate, expert_of, order, counts)
        elif path == "vmap":
            output = self.dispatch_vmap(items, rows, gate, expert_of[order], counts)
        else:
            output = self.dispatch_loop(items, item_mask, rows, gate, counts)
        fraction = counts.to(probabilities.dtype) / expert_of.numel()
        self.aux_loss = len(self.experts) * (fraction * probabilities.mean(dim=0)).sum()
        if self.z_loss:
            self.aux_loss = self.aux_loss + self.z_loss * torch.logsumexp(logits, dim=-1).square().mean()
        if self.route == "token":
            return output.reshape(*x.shape[:-1], output.shape[-1])
        return output

    def choose_path(self, items) -> str:
        """`dispatch` when set; else grouped GEMMs where they are known to be fast and right (a Hopper
        GPU, bf16 — the weights' dtype or autocast's — and every width a multiple of 8, the 16-byte
        alignment the kernel needs), else the vmapped call for copies of one body, else the loop (and
        the loop alone without `stack_weights`)."""
        if self.dispatch is not None:
            if self.dispatch not in self.paths:
                raise ValueError(f"dispatch {self.dispatch!r}: this mixture can run {', '.join(self.paths)}")
            return self.dispatch
        if not self.stack_weights:
            return "loop"
        if self.plan is not None and items.is_cuda and hasattr(torch, "_grouped_mm"):
            hopper = torch.cuda.get_device_capability(items.device)[0] == 9
            widths = all(size % 8 == 0 for size in self.plan.widths)
            if hopper and widths and compute_dtype(items, self.experts[0]) == torch.bfloat16:
                return "grouped_mm"
        return "vmap" if "vmap" in self.paths else "loop"

    def dispatch_loop(self, items, item_mask, rows, gate, counts):
        """Each expert once, on exactly the items routed to it (any experts, masks passed on). Without
        `stack_weights` (sharded) an expert with no items runs too, on none: every process then has a
        gradient for every weight, as FSDP's reduction needs, and the zeros the vmapped call gives."""
        output, start = None, 0
        for expert, count in zip(self.experts, counts.tolist()):
            if count == 0 and self.stack_weights:
                continue
            picked = rows[start : start + count]
            result = expert(items[picked]) if item_mask is None else expert(items[picked], item_mask[picked])
            result = result * gate[start : start + count].reshape(-1, *([1] * (result.dim() - 1)))
            if output is None:
                output = result.new_zeros(items.shape[0], *result.shape[1:])
            output = output.index_add(0, picked, result)
            start += count
        return output

    def dispatch_vmap(self, items, rows, gate, experts_sorted, counts):
        """All experts in one call: each expert's items padded to the largest count, the copies'
        weights stacked, and the shared forward vmapped over experts (E, capacity, d)."""
        capacity = int(counts.max())
        starts = torch.cumsum(counts, dim=0) - counts
        slot = torch.arange(rows.numel(), device=rows.device) - starts[experts_sorted]  # place within its expert
        padded = items.new_zeros(len(self.experts), capacity, items.shape[-1])
        padded[experts_sorted, slot] = items[rows]
        names = [name for name, _ in self.experts[0].named_parameters()]
        weights = [dict(expert.named_parameters()) for expert in self.experts]
        stacked = {name: torch.stack([w[name] for w in weights]) for name in names}

        def run(parameters, x):
            return torch.func.functional_call(self.experts[0], parameters, (x,))

        # "different": each expert draws its own dropout masks, as it would run alone
        result = torch.vmap(run, randomness="different")(stacked, padded)[experts_sorted, slot] * gate[:, None]
        return result.new_zeros(items.shape[0], result.shape[-1]).index_add(0, rows, result)

    def dispatch_grouped_mm(self, items, rows, gate, expert_of, order, counts):
        """The rows sorted by expert (assignments, d) through the body with each dense layer one grouped
        GEMM over the experts' stacked weights; `offsets` ends each expert's rows (empty ones included)."""
        dtype = compute_dtype(items, self.experts[0])
        stacked = []  # one kernel per tensor (the copies share a dtype), a cast only under autocast
        for owners in self.owners:
            stacked.append(torch.stack([owner.weight for owner in owners]).to(dtype))
            bias = owners[0].bias is not None
            stacked.append(torch.stack([owner.bias for owner in owners]).to(dtype) if bias else None)
        offsets = counts.cumsum(0).to(torch.int32)
        expert = expert_of[order] if any(b is not None for b in stacked[1::2]) else None  # for the biases only
        result = self.plan(items.index_select(0, rows).to(dtype), offsets, expert, self.training, *stacked)
        result = result * gate[:, None]  # (assignments, d_out)
        return result.new_zeros(items.shape[0], result.shape[-1]).index_add(0, rows, result)


def same_stateless_body(experts) -> bool:
    """Whether the experts are copies of one body without buffers: one class, parameters of one shape."""
    if len({type(e) for e in experts}) != 1 or any(True for e in experts for _ in e.buffers()):
        return False
    shapes = [[(name, p.shape) for name, p in e.named_parameters()] for e in experts]
    return all(s == shapes[0] for s in shapes)


def compute_dtype(items, body) -> torch.dtype:
    """The dtype the dense layers compute in: autocast's when it is on for the items' device, else
    the body's weights'."""
    device = items.device.type
    return torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else next(body.parameters()).dtype


def grouped_linear(x, weight, bias, offsets, expert):
    """Row i of `x` (assignments, in), sorted by expert, through its expert's dense layer: `weight`
    (E, out, in), `bias` (E, out) or None, `offsets` (E,) the end of each expert's rows, `expert`
    (assignments,) the expert of each row."""
    out = torch._grouped_mm(x, weight.transpose(-2, -1), offs=offsets)  # (assignments, out)
    return out if bias is None else out + bias.index_select(0, expert)


class GroupedPlan:
    """A body's forward as a function of the rows sorted by expert, with each dense layer a grouped
    GEMM: `plan(x, offsets, expert, training, *weights)`, `weights` the stacked weight and bias (or
    None) of each layer in `layers`; `widths` are every dense layer's input and output widths."""

    def __init__(self, code, layers, widths):
        self.code, self.layers, self.widths = code, layers, widths

    def __call__(self, x, offsets, expert, training, *weights):
        return self.code(x, offsets, expert, training, *weights)


def grouped_plan(body: nn.Module):
    """The body as a `GroupedPlan` when it is made of dense layers and token-wise operations only
    (traced with torch.fx), else None: then the experts run vmapped or one by one."""
    import torch.fx as fx

    try:
        traced = fx.symbolic_trace(body)
    except Exception:  # noqa: BLE001 - a body fx cannot trace (control flow on values) runs another way
        return None
    nodes = list(traced.graph.nodes)
    placeholders = [n for n in nodes if n.op == "placeholder"]
    layers = [n.target for n in nodes if n.op == "call_module" and type(body.get_submodule(n.target)) is nn.Linear]
    layers = list(dict.fromkeys(layers))
    used = {f"{layer}.{name}" for layer in layers for name, _ in body.get_submodule(layer).named_parameters()}
    if len(placeholders) != 1 or not layers or used != {name for name, _ in body.named_parameters()}:
        return None
    graph = fx.Graph()
    env = {placeholders[0]: graph.placeholder("x")}
    offsets, expert, training = graph.placeholder("offsets"), graph.placeholder("expert"), graph.placeholder("training")
    weights = {layer: (graph.placeholder(f"w{i}"), graph.placeholder(f"b{i}")) for i, layer in enumerate(layers)}
    widths = []
    for node in nodes[1:]:
        args = fx.node.map_arg(node.args, lambda n: env[n])
        kwargs = fx.node.map_arg(node.kwargs, lambda n: env[n])
        if node.op == "output":
            graph.output(args[0])
            break
        if node.op == "call_module":
            module = body.get_submodule(node.target)
            if type(module) is nn.Linear:
                widths += [module.in_features, module.out_features]
                env[node] = graph.call_function(grouped_linear, (args[0], *weights[node.target], offsets, expert))
                continue
            name = type(module).__name__
            if type(module).__module__.split(".")[:2] != ["torch", "nn"] or name not in MODULE_FUNCTIONS or kwargs:
                return None
            env[node] = module_as_function(graph, module, args[0], training)
        elif node.op in ("call_function", "call_method") and token_wise(node):
            env[node] = graph.create_node(node.op, node.target, args, kwargs)
        else:
            return None
    return GroupedPlan(fx.GraphModule(nn.Module(), graph), layers, widths)


def module_as_function(graph, module, x, training):
    """The node for a parameter-free torch.nn module of `MODULE_FUNCTIONS` called on `x`."""
    name = type(module).__name__
    if name == "Identity":
        return x
    if name == "Dropout":
        return graph.call_function(F.dropout, (x,), {"p": module.p, "training": training})
    if name == "GELU":
        return graph.call_function(F.gelu, (x,), {"approximate": module.approximate})
    functions = {"ReLU": F.relu, "SiLU": F.silu, "Tanh": torch.tanh, "Sigmoid": torch.sigmoid}
    return graph.call_function(functions[name], (x,))


def token_wise(node) -> bool:
    """Whether a traced call acts on each row alone: a known element-wise function or method, or one that
    mixes a row's features along its last axis (every value of a token body is (rows, features))."""
    name = node.target if node.op == "call_method" else getattr(node.target, "__name__", "")
    if node.op == "call_function" and getattr(node.target, "__module__", None) not in FUNCTION_MODULES:
        return False
    if name in ELEMENTWISE:
        return True
    if name in ALONG_FEATURES:
        dim = node.kwargs.get("dim", node.args[1] if len(node.args) > 1 else None)
        return dim in (-1, 1)
    return False
