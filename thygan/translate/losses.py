"""GAN objectives of CycleGAN / pix2pix (``--gan_mode``) and the WGAN-GP gradient penalty.

lsgan: least squares towards 1 (real) / 0 (fake) (Mao et al. 2017, CycleGAN's default); vanilla: the
original cross-entropy GAN on logits (pix2pix's default); wgangp: the critic's mean score (Gulrajani et
al. 2017). The reference defines the gradient penalty but never calls it from its models, so its
``wgangp`` is an unconstrained WGAN; here ``lambda_gp`` (default 10, the paper's) adds the penalty to
the D loss and ``lambda_gp=0`` reproduces the reference.
"""

import torch
import torch.nn.functional as F

GAN_MODES = ("lsgan", "vanilla", "wgangp")


def gan_loss(prediction: torch.Tensor, target_is_real: bool, gan_mode: str) -> torch.Tensor:
    """The loss of D's output ``prediction`` ([N, 1, h, w] logits) against the label real/fake."""
    if gan_mode == "lsgan":
        target = torch.full_like(prediction, 1.0 if target_is_real else 0.0)
        return F.mse_loss(prediction, target)
    if gan_mode == "vanilla":
        target = torch.full_like(prediction, 1.0 if target_is_real else 0.0)
        return F.binary_cross_entropy_with_logits(prediction, target)
    if gan_mode == "wgangp":
        return -prediction.mean() if target_is_real else prediction.mean()
    raise ValueError(f"gan_mode: expected one of {', '.join(GAN_MODES)}, got '{gan_mode}'")


def gradient_penalty(D, real: torch.Tensor, fake: torch.Tensor, *, generator: torch.Generator | None = None,
                     constant: float = 1.0) -> torch.Tensor:
    """E[(||grad_x D(x)||_2 - constant)^2] at x = a*real + (1-a)*fake, a ~ U(0, 1) per image (WGAN-GP eq. 3).

    real, fake: [N, C, H, W]. The graph is kept (create_graph) so the penalty trains D.
    """
    alpha = torch.rand(real.shape[0], 1, 1, 1, generator=generator, device="cpu").to(real.device, real.dtype)
    x = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    out = D(x)
    (grad,) = torch.autograd.grad(out, x, grad_outputs=torch.ones_like(out), create_graph=True)
    norms = (grad.flatten(1) + 1e-16).norm(2, dim=1)  # the reference's epsilon keeps the norm differentiable at 0
    return ((norms - constant) ** 2).mean()
