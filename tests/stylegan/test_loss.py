"""Losses against direct autograd computations on tiny networks: R1, path length, logistic losses."""

import copy

import numpy as np
import torch
import torch.nn.functional as F

from thygan.stylegan.loss import LossConfig, StyleGAN2Loss
from thygan.stylegan.networks import Discriminator, Generator

G_KWARGS = dict(z_dim=8, c_dim=2, w_dim=8, img_resolution=8, img_channels=3, mapping_kwargs=dict(num_layers=1),
                synthesis_kwargs=dict(channel_base=64, channel_max=8))
D_KWARGS = dict(c_dim=2, img_resolution=8, img_channels=3, channel_base=64, channel_max=8,
                mapping_kwargs=dict(num_layers=1), epilogue_kwargs=dict(mbstd_group_size=2))


def tiny_pair(seed: int = 0):
    torch.manual_seed(seed)
    G = Generator(**G_KWARGS).train().requires_grad_(False)
    D = Discriminator(**D_KWARGS).train().requires_grad_(False)
    for name, p in G.named_parameters():
        if name.endswith("noise_strength"):
            p.data.fill_(0.1)
    return G, D


def grads(module):
    return {n: p.grad.clone() for n, p in module.named_parameters() if p.grad is not None}


def test_r1_matches_a_direct_autograd_computation():
    G, D = tiny_pair()
    reference_D = copy.deepcopy(D).requires_grad_(True)
    real = torch.randn(4, 3, 8, 8)
    c = torch.eye(2)[[0, 1, 0, 1]]
    gamma = 3.0
    loss = StyleGAN2Loss(G, D, config=LossConfig(r1_gamma=gamma))
    D.requires_grad_(True)
    stats = loss.accumulate_gradients("Dreg", real, c, torch.randn(4, 8), c, gain=16)

    x = real.clone().requires_grad_(True)
    logits = reference_D(x, c)
    (grad_x,) = torch.autograd.grad(logits.sum(), x, create_graph=True)
    penalty = grad_x.square().sum(dim=[1, 2, 3])
    (penalty * gamma / 2).mean().mul(16).backward()

    torch.testing.assert_close(stats["Loss/r1_penalty"], penalty.detach())
    expected = grads(reference_D)
    ours = grads(D)
    assert expected.keys() <= ours.keys()
    for name, value in ours.items():  # the output bias gets an exact zero (the logits * 0 term)
        torch.testing.assert_close(value, expected.get(name, torch.zeros_like(value)), rtol=1e-5, atol=1e-7,
                                   msg=name)


def test_path_length_matches_a_direct_autograd_computation():
    G, D = tiny_pair()
    reference_G = copy.deepcopy(G).requires_grad_(True)
    z, c = torch.randn(4, 8), torch.eye(2)[[0, 1, 1, 0]]
    config = LossConfig(pl_weight=2.0, pl_batch_shrink=2, pl_decay=0.01, style_mixing_prob=0)
    loss = StyleGAN2Loss(G, D, config=config)
    loss.pl_mean.fill_(0.5)
    G.requires_grad_(True)
    torch.manual_seed(7)
    stats = loss.accumulate_gradients("Greg", None, None, z, c, gain=4)
    loss.finish_phase()

    torch.manual_seed(7)  # same random noise and pl_noise, drawn in the same order
    ws = reference_G.mapping(z[:2], c[:2], skip_w_avg_update=True)
    img = reference_G.synthesis(ws)
    pl_noise = torch.randn_like(img) / np.sqrt(8 * 8)
    (grad_ws,) = torch.autograd.grad((img * pl_noise).sum(), ws, create_graph=True)
    lengths = grad_ws.square().sum(2).mean(1).sqrt()
    pl_mean = torch.tensor(0.5).lerp(lengths.mean(), 0.01)
    ((lengths - pl_mean).square() * 2.0).mean().mul(4).backward()

    torch.testing.assert_close(stats["Loss/pl_penalty"], (lengths - pl_mean).square().detach())
    torch.testing.assert_close(loss.pl_mean, pl_mean.detach())
    expected = grads(reference_G)
    ours = grads(G)
    assert expected.keys() <= ours.keys()
    for name, value in ours.items():  # parameters reached only through the `img * 0` term get exact zeros
        torch.testing.assert_close(value, expected.get(name, torch.zeros_like(value)), rtol=1e-4, atol=1e-7,
                                   msg=name)


def test_logistic_losses_are_the_non_saturating_pair():
    G, D = tiny_pair()
    config = LossConfig(r1_gamma=0, pl_weight=0, style_mixing_prob=0)
    z, c = torch.randn(4, 8), torch.eye(2)[[0, 1, 0, 1]]
    real = torch.randn(4, 3, 8, 8)
    D.requires_grad_(True)
    torch.manual_seed(3)
    stats = StyleGAN2Loss(G, D, config=config).accumulate_gradients("Dmain", real, c, z, c, gain=1)
    torch.manual_seed(3)
    with torch.no_grad():
        fake_logits = D(G(z, c), c)
        real_logits = D(real, c)
    torch.testing.assert_close(stats["Loss/scores/fake"], fake_logits)
    torch.testing.assert_close(stats["Loss/D/loss"], F.softplus(fake_logits) + F.softplus(-real_logits))
    D.requires_grad_(False)
    G.requires_grad_(True)
    torch.manual_seed(5)
    stats = StyleGAN2Loss(G, D, config=config).accumulate_gradients("Gmain", real, c, z, c, gain=1)
    torch.manual_seed(5)
    with torch.no_grad():
        fake_logits = D(G(z, c), c)
    torch.testing.assert_close(stats["Loss/G/loss"], F.softplus(-fake_logits))


def test_w_avg_moves_once_per_phase_by_the_batch_mean():
    G, D = tiny_pair()
    loss = StyleGAN2Loss(G, D, config=LossConfig(style_mixing_prob=0, pl_weight=0, r1_gamma=0))
    z, c = torch.randn(4, 8), torch.eye(2)[[0, 1, 0, 1]]
    before = G.mapping.w_avg.clone()
    G.requires_grad_(True)
    for chunk in (slice(0, 2), slice(2, 4)):  # two accumulation rounds of one phase
        loss.accumulate_gradients("Gmain", None, None, z[chunk], c[chunk], gain=0.5)
    torch.testing.assert_close(G.mapping.w_avg, before)  # nothing moves until the phase ends
    loss.finish_phase()
    with torch.no_grad():
        w_mean = G.mapping(z, c, skip_w_avg_update=True)[:, 0].mean(0)
    torch.testing.assert_close(G.mapping.w_avg, w_mean.lerp(before, 0.995))
