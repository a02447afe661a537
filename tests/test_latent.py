"""The VAE latent and the auxiliary losses a compiled module exposes."""

import torch

from cramnet.compiler import compile_spec


def test_gaussian_latent_samples_in_training_and_gives_the_mean_in_eval():
    model = compile_spec("specs/vae.cram", seed=0)
    latent = model.z
    x = torch.rand(5, 1, 8, 8)
    model.eval()
    reconstruction, z = model(x)
    hidden = torch.relu(model.dense_1(x.flatten(1)))
    torch.testing.assert_close(z, latent.mean(hidden))
    model.train()
    _, z1 = model(x)
    _, z2 = model(x)
    assert not torch.allclose(z1, z2)


def test_kl_matches_the_closed_form():
    model = compile_spec("specs/vae.cram", seed=0)
    x = torch.rand(6, 1, 8, 8)
    model(x)
    hidden = torch.relu(model.dense_1(x.flatten(1)))
    mu, log_var = model.z.mean(hidden), model.z.log_var(hidden)
    var = log_var.exp()
    closed_form = 0.5 * (var + mu.square() - 1 - log_var).sum(1).mean()  # KL(N(mu, var) || N(0, 1))
    torch.testing.assert_close(model.aux_losses()["z"], closed_form)
    torch.testing.assert_close(model.z.aux_loss, closed_form)


def test_aux_losses_are_named_and_empty_without_such_blocks():
    assert compile_spec("specs/mlp.cram").aux_losses() == {}
    model = compile_spec("specs/mixtral_small.cram", seed=0)
    model(torch.randint(0, 256, (2, 9)))
    losses = model.aux_losses()
    assert sorted(losses) == [f"moe_layer.{i}.moe_1" for i in range(4)]  # by module path
    assert all(loss.ndim == 0 and torch.isfinite(loss) and loss > 0 for loss in losses.values())


def test_the_showcase_trains_a_step_with_its_auxiliary_losses():
    model = compile_spec("specs/cram.cram", seed=0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    images, labels = torch.rand(16, 1, 8, 8), torch.randint(0, 10, (16,))
    logits, _ = model(images)
    losses = model.aux_losses()
    assert sorted(losses) == ["mixed", "z"]  # the experts' balance and the latent's KL
    loss = torch.nn.functional.cross_entropy(logits, labels) + sum(losses.values())
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss)
