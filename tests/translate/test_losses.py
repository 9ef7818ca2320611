"""GAN losses against closed forms, the gradient penalty against a hand computation, pool and schedule."""

import pytest
import torch

from thygan.translate.image_pool import ImagePool
from thygan.translate.losses import gan_loss, gradient_penalty
from thygan.translate.schedulers import lr_factor


def test_gan_losses_closed_form():
    p = torch.tensor([[[[0.3, -1.2], [2.0, 0.0]]]])
    assert torch.isclose(gan_loss(p, True, "lsgan"), ((p - 1) ** 2).mean())
    assert torch.isclose(gan_loss(p, False, "lsgan"), (p ** 2).mean())
    sig = torch.sigmoid(p)
    assert torch.isclose(gan_loss(p, True, "vanilla"), -torch.log(sig).mean())
    assert torch.isclose(gan_loss(p, False, "vanilla"), -torch.log(1 - sig).mean())
    assert torch.isclose(gan_loss(p, True, "wgangp"), -p.mean())
    assert torch.isclose(gan_loss(p, False, "wgangp"), p.mean())
    with pytest.raises(ValueError):
        gan_loss(p, True, "hinge")


def test_gradient_penalty_of_a_linear_critic_and_its_gradient():
    # D(x) = sum(w * x): grad_x D = w for every x, so the penalty is (|w| - 1)^2 exactly.
    w = torch.tensor([[[[3.0, 0.0], [0.0, 4.0]]]], requires_grad=True)

    def D(x):
        return (x * w).sum(dim=(1, 2, 3))

    real, fake = torch.randn(5, 1, 2, 2), torch.randn(5, 1, 2, 2)
    gp = gradient_penalty(D, real, fake, generator=torch.Generator().manual_seed(0))
    assert torch.isclose(gp, torch.tensor(16.0), atol=1e-4)
    gp.backward()  # d/dw (|w| - 1)^2 = 2 (|w| - 1) w / |w|
    assert torch.allclose(w.grad, 2 * 4 * w.detach() / 5, atol=1e-4)


def test_gradient_penalty_matches_autograd_on_a_nonlinear_critic():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3), torch.nn.Tanh(), torch.nn.Conv2d(3, 1, 3))
    real, fake = torch.randn(3, 2, 6, 6), torch.randn(3, 2, 6, 6)
    gp = gradient_penalty(net, real, fake, generator=torch.Generator().manual_seed(1))
    alpha = torch.rand(3, 1, 1, 1, generator=torch.Generator().manual_seed(1))
    norms = []
    for i in range(3):  # per image, with a fresh autograd call each
        x = (alpha[i] * real[i] + (1 - alpha[i]) * fake[i]).unsqueeze(0).requires_grad_(True)
        (g,) = torch.autograd.grad(net(x).sum(), x)
        norms.append(g.norm())
    assert torch.isclose(gp, ((torch.stack(norms) - 1) ** 2).mean(), rtol=1e-5)


def test_image_pool_fills_then_swaps_and_restores_exactly():
    pool = ImagePool(3, seed=0)
    first = torch.arange(3.0).view(3, 1, 1, 1)
    assert torch.equal(pool.query(first), first)  # filling: returned as given
    state = pool.state_dict()
    outs = [pool.query(torch.full((1, 1, 1, 1), 10.0 + k)) for k in range(40)]
    values = {float(o) for o in outs}
    assert values & {0.0, 1.0, 2.0} and values & {10.0 + k for k in range(40)}  # both stored and current
    again = ImagePool(3, seed=99)
    again.load_state_dict(state)
    assert [float(again.query(torch.full((1, 1, 1, 1), 10.0 + k))) for k in range(40)] == [float(o) for o in outs]
    assert torch.equal(ImagePool(0).query(first), first)


def test_linear_policy_is_the_reference_formula():
    factors = [lr_factor(e, n_epochs=3, n_epochs_decay=4) for e in range(7)]
    # 1 - max(0, e + 1 - 3) / 5: three epochs at full rate, then 4/5, 3/5, 2/5, 1/5 (never exactly 0).
    assert factors == pytest.approx([1, 1, 1, 0.8, 0.6, 0.4, 0.2])
    # --epoch_count 3 (a restart numbered from epoch 3) is two epochs further along the schedule.
    assert lr_factor(1, n_epochs=3, n_epochs_decay=4, epoch_count=3) == pytest.approx(0.8)
    assert lr_factor(120, lr_policy="step", lr_decay_iters=50) == pytest.approx(0.01)
    assert lr_factor(5, lr_policy="cosine", n_epochs=10) == pytest.approx(0.5)
