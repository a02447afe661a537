"""Temporary: graph layers vs PyG on CUDA, forward+backward median ms, interleaved (deleted after the run)."""
import time
from types import SimpleNamespace

import torch
import torch_geometric.nn as gnn
from cramnet.compiler import compile_spec

dev = "cuda"
N, E, F = 100_000, 1_000_000, 128
torch.manual_seed(0)
x = torch.randn(N, F, device=dev)
ei = torch.randint(0, N, (2, E), device=dev)
g = SimpleNamespace(x=x, edge_index=ei)


def median_ms(step, steps=30):
    for _ in range(3):
        step()
    torch.cuda.synchronize()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2] * 1000


mlp = torch.nn.Sequential(torch.nn.Linear(F, 128), torch.nn.ReLU(), torch.nn.Linear(128, 128))
cases = [
    ("gcn(128)", gnn.GCNConv(F, 128)),
    ("gat(32, heads = 4)", gnn.GATConv(F, 32, heads=4)),
    ("gin(128)", gnn.GINConv(mlp)),
    ("cheb(128, 3)", gnn.ChebConv(F, 128, K=3)),
]
print(f"{torch.cuda.get_device_name()}  N={N} E={E} F={F}, forward+backward, median of 30, 3 interleaved rounds")
for call, ref in cases:
    ours = compile_spec(f"model m {{\n input g: graph[n, {F}]\n g -> {call} as y\n output y\n}}\n", seed=0).to(dev)
    ref = ref.to(dev)
    rounds = []
    for _ in range(3):
        a = median_ms(lambda: ours(g).square().mean().backward())
        b = median_ms(lambda: ref(x, ei).square().mean().backward())
        rounds.append((a, b))
    text = "  ".join(f"{a:6.2f}/{b:6.2f}" for a, b in rounds)
    ratios = sorted(a / b for a, b in rounds)
    print(f"{call:20s} cramnet/PyG ms {text}   ratio median {ratios[1]:4.2f} (range {ratios[0]:4.2f}-{ratios[2]:4.2f})")
