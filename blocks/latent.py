"""Latent family: the VAE's Gaussian latent (Kingma & Welling 2014, "Auto-encoding variational Bayes").

Two heads map the input to a mean μ and a log-variance log σ²; in training the output is a
reparameterised sample z = μ + σ ⊙ ε (ε ~ N(0, I)), in evaluation the mean. The KL divergence to
the standard normal prior, KL(N(μ, σ²) ‖ N(0, I)) = -½ Σ (1 + log σ² - μ² - σ²), summed over the
latent and averaged over the batch, is this block's auxiliary loss (`aux_loss`), which training
adds to the task's loss.
"""

from __future__ import annotations

import torch
from torch import nn

from .registry import Arg, Construct, Family, ShapeError, block
from .shape_rules import known_size, positions

LATENT = Family(
    "latent", "#a6bddb", "Variational latents that add their KL term to training.", paper="Kingma & Welling 2014"
)


class GaussianLatent(nn.Module):
    """Mean and log-variance heads, a reparameterised sample in training, the mean in eval; the KL
    term of the last forward pass is kept in `aux_loss`."""

    def __init__(self, in_features, dim):
        super().__init__()
        self.mean = nn.Linear(in_features, dim)
        self.log_var = nn.Linear(in_features, dim)
        self.aux_loss = None

    def forward(self, x):
        mu, log_var = self.mean(x), self.log_var(x)
        kl = -0.5 * (1 + log_var - mu.square() - log_var.exp())
        self.aux_loss = kl.reshape(x.shape[0], -1).sum(dim=1).mean()
        if not self.training:
            return mu
        return mu + torch.exp(0.5 * log_var) * torch.randn_like(mu)


def _features(inputs) -> int:
    if inputs[0].rank == 0:
        raise ShapeError("expects at least one dimension, got a scalar")
    return known_size(inputs[0].dims[-1], "the input's last dimension")


@block(
    "gaussian",
    family="latent",
    args=(Arg("dim", "int", doc="latent size", low=1),),
    params=lambda inputs, a: 2 * (_features(inputs) * a.dim + a.dim),
    flops=lambda inputs, out, a: positions(inputs[0]) * (4 * _features(inputs) * a.dim + 8 * a.dim),
    module=lambda inputs, a: Construct(GaussianLatent, {"in_features": _features(inputs), "dim": a.dim}),
    accepts=("float", "graph"),
    example=("[12]", "gaussian(4)"),
)
def gaussian(inputs, a):
    """A VAE latent (Kingma & Welling 2014): mean and log-variance heads, a reparameterised sample
    in training and the mean in eval; contributes its KL divergence to the prior as an auxiliary loss.

    Shapes: [..., in] -> [..., dim].
    """
    _features(inputs)
    return inputs[0].with_dims(inputs[0].dims[:-1] + (a.dim,))
