"""One optimisation step of CycleGAN and of pix2pix, as the reference's ``optimize_parameters``.

CycleGAN (Zhu et al. 2017, eq. 1-3 and section 5.2): G_A: A -> B judged by D_A, G_B: B -> A judged by
D_B; cycle losses lambda_A * |G_B(G_A(a)) - a|_1 and lambda_B * |G_A(G_B(b)) - b|_1, identity losses
lambda_identity * lambda_B * |G_A(b) - b|_1 (and mirrored); D trained on pooled fakes, its loss halved.
pix2pix (Isola et al. 2017, eq. 4): D sees concat(A, B); G minimises GAN + lambda_L1 * |G(a) - b|_1.
Losses are returned under the reference's names (D_A, G_A, cycle_A, idt_A, ...; G_GAN, G_L1, D_real, D_fake).
"""

import itertools

import torch
import torch.nn.functional as F
from torch import nn

from thygan.translate.image_pool import ImagePool
from thygan.translate.losses import gan_loss, gradient_penalty
from torch_utils import distributed


def _average_gradients(nets: list[nn.Module]) -> None:
    """Mean of each gradient over the processes (a no-op in a single process)."""
    if not distributed.is_initialized():
        return
    for net in nets:
        for p in net.parameters():
            if p.grad is not None:
                distributed.all_reduce_mean_(p.grad)


def _requires_grad(nets: list[nn.Module], flag: bool) -> None:
    for net in nets:
        net.requires_grad_(flag)


class TranslationModel:
    """The networks of one model and their optimisers; subclasses define ``step`` and ``translations``.

    Args:
        nets: {'G_A': ..., 'D_A': ...}; the ones named G* share one Adam, D* the other.
        lr, beta1: Adam learning rate and beta1 (beta2 0.999, as the reference).
        gan_mode: lsgan | vanilla | wgangp.
        lambda_gp: Gradient penalty weight with wgangp.
    """

    def __init__(self, nets: dict[str, nn.Module], *, lr: float, beta1: float, gan_mode: str, lambda_gp: float):
        self.nets = nets
        self.gan_mode, self.lambda_gp = gan_mode, lambda_gp
        self.G_names = [k for k in nets if k.startswith("G")]
        self.D_names = [k for k in nets if k.startswith("D")]
        self.opt_G = torch.optim.Adam(itertools.chain(*(nets[k].parameters() for k in self.G_names)),
                                      lr=lr, betas=(beta1, 0.999))
        self.opt_D = torch.optim.Adam(itertools.chain(*(nets[k].parameters() for k in self.D_names)),
                                      lr=lr, betas=(beta1, 0.999))

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"G_opt": self.opt_G, "D_opt": self.opt_D}

    def pools(self) -> dict[str, ImagePool]:
        return {}

    def translations(self, real_A: torch.Tensor, real_B: torch.Tensor) -> dict[str, torch.Tensor]:
        """The progress-grid columns for a batch (call under no_grad, nets in eval mode)."""
        raise NotImplementedError

    def _d_loss(self, D: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(total, real part, fake part): halved as in the reference, plus the penalty with wgangp."""
        loss_real = gan_loss(D(real), True, self.gan_mode)
        loss_fake = gan_loss(D(fake.detach()), False, self.gan_mode)
        total = (loss_real + loss_fake) * 0.5
        if self.gan_mode == "wgangp" and self.lambda_gp > 0:
            total = total + self.lambda_gp * gradient_penalty(D, real, fake)
        return total, loss_real, loss_fake


class CycleGANModel(TranslationModel):
    """nets: G_A, G_B, D_A, D_B. batch: {'A': [N, input_nc, H, W], 'B': [N, output_nc, H, W]} in [-1, 1]."""

    def __init__(self, nets: dict[str, nn.Module], *, lambda_A: float = 10.0, lambda_B: float = 10.0,
                 lambda_identity: float = 0.5, pool_size: int = 50, seed: int = 0, **kwargs):
        super().__init__(nets, **kwargs)
        self.lambda_A, self.lambda_B, self.lambda_identity = lambda_A, lambda_B, lambda_identity
        self.pool_A = ImagePool(pool_size, seed=seed)      # fake A images for D_B
        self.pool_B = ImagePool(pool_size, seed=seed + 1)  # fake B images for D_A

    def pools(self) -> dict[str, ImagePool]:
        return {"pool_A": self.pool_A, "pool_B": self.pool_B}

    def translations(self, real_A: torch.Tensor, real_B: torch.Tensor) -> dict[str, torch.Tensor]:
        G_A, G_B = self.nets["G_A"], self.nets["G_B"]
        fake_B, fake_A = G_A(real_A), G_B(real_B)
        return {"real_A": real_A, "fake_B": fake_B, "rec_A": G_B(fake_B),
                "real_B": real_B, "fake_A": fake_A, "rec_B": G_A(fake_A)}

    def step(self, real_A: torch.Tensor, real_B: torch.Tensor) -> dict[str, float]:
        G_A, G_B, D_A, D_B = (self.nets[k] for k in ("G_A", "G_B", "D_A", "D_B"))
        fake_B = G_A(real_A)
        rec_A = G_B(fake_B)
        fake_A = G_B(real_B)
        rec_B = G_A(fake_A)
        losses = {}
        _requires_grad([D_A, D_B], False)
        self.opt_G.zero_grad(set_to_none=True)
        if self.lambda_identity > 0:
            losses["idt_A"] = F.l1_loss(G_A(real_B), real_B) * self.lambda_B * self.lambda_identity
            losses["idt_B"] = F.l1_loss(G_B(real_A), real_A) * self.lambda_A * self.lambda_identity
        losses["G_A"] = gan_loss(D_A(fake_B), True, self.gan_mode)
        losses["G_B"] = gan_loss(D_B(fake_A), True, self.gan_mode)
        losses["cycle_A"] = F.l1_loss(rec_A, real_A) * self.lambda_A
        losses["cycle_B"] = F.l1_loss(rec_B, real_B) * self.lambda_B
        sum(losses.values()).backward()
        _average_gradients([G_A, G_B])
        self.opt_G.step()
        _requires_grad([D_A, D_B], True)
        self.opt_D.zero_grad(set_to_none=True)
        loss_D_A = self._d_loss(D_A, real_B, self.pool_B.query(fake_B))[0]
        loss_D_B = self._d_loss(D_B, real_A, self.pool_A.query(fake_A))[0]
        (loss_D_A + loss_D_B).backward()
        _average_gradients([D_A, D_B])
        self.opt_D.step()
        losses.update(D_A=loss_D_A, D_B=loss_D_B)
        return {k: v.item() for k, v in losses.items()}


class Pix2PixModel(TranslationModel):
    """nets: G, D (D on concat(A, B)). batch as CycleGANModel, paired."""

    def __init__(self, nets: dict[str, nn.Module], *, lambda_L1: float = 100.0, **kwargs):
        super().__init__(nets, **kwargs)
        self.lambda_L1 = lambda_L1

    def translations(self, real_A: torch.Tensor, real_B: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"real_A": real_A, "fake_B": self.nets["G"](real_A), "real_B": real_B}

    def step(self, real_A: torch.Tensor, real_B: torch.Tensor) -> dict[str, float]:
        G, D = self.nets["G"], self.nets["D"]
        fake_B = G(real_A)
        _requires_grad([D], True)
        self.opt_D.zero_grad(set_to_none=True)
        loss_D, loss_real, loss_fake = self._d_loss(D, torch.cat([real_A, real_B], 1), torch.cat([real_A, fake_B], 1))
        loss_D.backward()
        _average_gradients([D])
        self.opt_D.step()
        _requires_grad([D], False)
        self.opt_G.zero_grad(set_to_none=True)
        loss_GAN = gan_loss(D(torch.cat([real_A, fake_B], 1)), True, self.gan_mode)
        loss_L1 = F.l1_loss(fake_B, real_B) * self.lambda_L1
        (loss_GAN + loss_L1).backward()
        _average_gradients([G])
        self.opt_G.step()
        return {"G_GAN": loss_GAN.item(), "G_L1": loss_L1.item(), "D_real": loss_real.item(),
                "D_fake": loss_fake.item()}
