"""StyleGAN2 losses: non-saturating logistic loss, lazy R1 on reals, path-length regularization,
style mixing (Karras et al. 2020, sections 2.2 and 3.2; Mescheder et al. 2018 for R1).

Phases are named as in the reference training loop: ``Gmain``, ``Greg``, ``Gboth``, ``Dmain``,
``Dreg``, ``Dboth``. Each call accumulates gradients scaled by ``gain`` (the phase's interval, which is
how lazy regularization keeps the penalty's expected weight) and returns the statistics it computed.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from thygan.stylegan.training_options import LossConfig  # the config lives with the other options

PHASES = ("Gmain", "Greg", "Gboth", "Dmain", "Dreg", "Dboth")


@dataclass
class _Nets:
    mapping: Callable
    synthesis: Callable
    D: Callable


class StyleGAN2Loss:
    """Computes the losses of one phase on one batch-per-GPU chunk and backpropagates them."""

    def __init__(self, G, D, *, config: LossConfig, augment_pipe=None, device: torch.device | str = "cpu",
                 compile_backend: str | None = None):
        self.G, self.D = G, D
        # torch.compile'd views of the same modules (shared parameters) for the main phases. The R1 and
        # path-length terms differentiate twice, which compiled graphs do not support, so they stay eager.
        self._eager = _Nets(G.mapping, G.synthesis, D)
        self._fast = self._eager if compile_backend is None else _Nets(
            *(torch.compile(module, backend=compile_backend) for module in (G.mapping, G.synthesis, D)))
        self.config = config
        self.augment_pipe = augment_pipe
        self.pl_mean = torch.zeros([], device=device)  # running path-length target, saved for resume
        # Running averages (w_avg, pl_mean) move once per phase from the whole global batch, not once
        # per chunk: then gradient accumulation and N processes agree exactly with one big batch.
        self._moments = torch.zeros([4], dtype=torch.float64, device=device)  # w count, pl sum, pl count, -
        self._w_sum = None

    def run_G(self, z: torch.Tensor, c: torch.Tensor, *, update_w_avg: bool = True, double_backward: bool = False):
        """-> (img [N, C, R, R], ws [N, num_ws, w_dim]) with style mixing applied to ws."""
        nets = self._eager if double_backward else self._fast
        ws = nets.mapping(z, c, skip_w_avg_update=True)
        if update_w_avg and self.G.mapping.training and self.G.mapping.w_avg_beta is not None:
            w_sum = ws[:, 0].detach().to(torch.float64).sum(dim=0)
            self._w_sum = w_sum if self._w_sum is None else self._w_sum + w_sum
            self._moments[0] += ws.shape[0]
        if self.config.style_mixing_prob > 0:
            num_ws = ws.shape[1]
            cutoff = int(torch.randint(1, num_ws, [], device="cpu")) if num_ws > 1 else num_ws
            if torch.rand([], device="cpu").item() >= self.config.style_mixing_prob:
                cutoff = num_ws
            if cutoff < num_ws:
                mixed = nets.mapping(torch.randn_like(z), c, skip_w_avg_update=True)
                ws = torch.cat([ws[:, :cutoff], mixed[:, cutoff:]], dim=1)
        return nets.synthesis(ws), ws

    def run_D(self, img: torch.Tensor, c: torch.Tensor, *, double_backward: bool = False) -> torch.Tensor:
        if self.augment_pipe is not None:
            img = self.augment_pipe(img)
        return (self._eager if double_backward else self._fast).D(img, c)

    def accumulate_gradients(self, phase: str, real_img, real_c, gen_z, gen_c, gain: float) -> dict:
        """real_img: [N, C, R, R] in [-1, 1]; returns {stat name: tensor of per-sample values}."""
        if phase not in PHASES:
            raise ValueError(f"unknown phase {phase!r}")
        cfg = self.config
        do_Gmain = phase in ("Gmain", "Gboth")
        do_Dmain = phase in ("Dmain", "Dboth")
        do_Gpl = phase in ("Greg", "Gboth") and cfg.pl_weight != 0
        do_Dr1 = phase in ("Dreg", "Dboth") and cfg.r1_gamma != 0
        stats: dict[str, torch.Tensor] = {}

        if do_Gmain:
            gen_img, _ = self.run_G(gen_z, gen_c)
            gen_logits = self.run_D(gen_img, gen_c)
            loss_G = F.softplus(-gen_logits)  # -log(sigmoid(D(G(z))))
            stats.update({"Loss/scores/fake": gen_logits, "Loss/signs/fake": gen_logits.sign(), "Loss/G/loss": loss_G})
            loss_G.mean().mul(gain).backward()

        if do_Gpl:
            stats.update(self._path_length(gen_z, gen_c, gain))

        if do_Dmain:
            gen_img, _ = self.run_G(gen_z, gen_c)
            gen_logits = self.run_D(gen_img.detach(), gen_c)
            loss_D_gen = F.softplus(gen_logits)  # -log(1 - sigmoid(D(G(z))))
            stats.update({"Loss/scores/fake": gen_logits, "Loss/signs/fake": gen_logits.sign()})
            loss_D_gen.mean().mul(gain).backward()

        if do_Dmain or do_Dr1:
            stats.update(self._real_pass(real_img, real_c, gain, do_Dmain=do_Dmain, do_Dr1=do_Dr1))
        if do_Dmain:
            stats["Loss/D/loss"] = loss_D_gen + stats.pop("Loss/D/real")
        return {name: value.detach() for name, value in stats.items()}

    def _path_length(self, gen_z, gen_c, gain) -> dict:
        cfg = self.config
        batch = max(gen_z.shape[0] // cfg.pl_batch_shrink, 1)
        gen_img, gen_ws = self.run_G(gen_z[:batch], gen_c[:batch], double_backward=True)
        # Random image-space direction, scaled so the expected length does not depend on resolution.
        pl_noise = torch.randn_like(gen_img) / np.sqrt(gen_img.shape[2] * gen_img.shape[3])
        pl_grads = torch.autograd.grad(outputs=[(gen_img * pl_noise).sum()], inputs=[gen_ws], create_graph=True)[0]
        pl_lengths = pl_grads.square().sum(2).mean(1).sqrt()
        pl_mean = self.pl_mean.lerp(pl_lengths.mean(), cfg.pl_decay)
        self._moments[1] += pl_lengths.detach().to(torch.float64).sum()
        self._moments[2] += pl_lengths.shape[0]
        pl_penalty = (pl_lengths - pl_mean).square()
        loss_Gpl = pl_penalty * cfg.pl_weight
        # The zero term keeps every synthesis parameter in the graph, so DDP sees all gradients.
        (gen_img[:, 0, 0, 0] * 0 + loss_Gpl).mean().mul(gain).backward()
        return {"Loss/pl_penalty": pl_penalty, "Loss/G/reg": loss_Gpl}

    def finish_phase(self, all_reduce_sum_=lambda t: t) -> None:
        """After a phase's chunks: move w_avg and pl_mean by the means over the whole global batch."""
        w_dim = self.G.mapping.w_dim
        w_sum = self._w_sum if self._w_sum is not None else torch.zeros([w_dim], dtype=torch.float64,
                                                                          device=self._moments.device)
        packed = all_reduce_sum_(torch.cat([w_sum, self._moments]))
        w_sum, (w_count, pl_sum, pl_count, _) = packed[:w_dim], packed[w_dim:]
        # torch.where instead of `if count > 0`: no device-to-host synchronisation inside the step.
        w_avg = self.G.mapping.w_avg
        if self.G.mapping.w_avg_beta is not None:
            w_new = (w_sum / w_count.clamp(min=1)).to(w_avg.dtype).lerp(w_avg, self.G.mapping.w_avg_beta)
            w_avg.copy_(torch.where(w_count > 0, w_new, w_avg))
        pl_new = self.pl_mean.lerp((pl_sum / pl_count.clamp(min=1)).to(self.pl_mean.dtype), self.config.pl_decay)
        self.pl_mean.copy_(torch.where(pl_count > 0, pl_new, self.pl_mean))
        self._moments.zero_()
        self._w_sum = None

    def _real_pass(self, real_img, real_c, gain, *, do_Dmain: bool, do_Dr1: bool) -> dict:
        stats = {}
        real = real_img.detach().requires_grad_(do_Dr1)
        real_logits = self.run_D(real, real_c, double_backward=do_Dr1)
        stats.update({"Loss/scores/real": real_logits, "Loss/signs/real": real_logits.sign()})
        loss = real_logits * 0
        if do_Dmain:
            loss_D_real = F.softplus(-real_logits)
            loss = loss + loss_D_real
            stats["Loss/D/real"] = loss_D_real
        if do_Dr1:
            r1_grads = torch.autograd.grad(outputs=[real_logits.sum()], inputs=[real], create_graph=True)[0]
            r1_penalty = r1_grads.square().sum([1, 2, 3])
            loss = loss + r1_penalty[:, None] * (self.config.r1_gamma / 2)
            stats.update({"Loss/r1_penalty": r1_penalty, "Loss/D/reg": r1_penalty * (self.config.r1_gamma / 2)})
        loss.mean().mul(gain).backward()
        return stats
