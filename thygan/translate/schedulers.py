"""Learning-rate policies of the reference (``--lr_policy``), stepped once per epoch.

linear: constant for ``n_epochs`` epochs, then linear decay to zero over ``n_epochs_decay`` more (the
factor at 0-based epoch e is ``1 - max(0, e + epoch_count - n_epochs) / (n_epochs_decay + 1)``);
step: x0.1 every ``lr_decay_iters`` epochs; cosine: cosine annealing over ``n_epochs``. The reference's
``plateau`` policy is omitted: it is stepped with a constant metric of 0, so it only ever decays on a
timer, which ``step`` states honestly.
"""

import math

import torch

LR_POLICIES = ("linear", "step", "cosine")


def lr_factor(epoch: int, *, lr_policy: str = "linear", n_epochs: int = 100, n_epochs_decay: int = 100,
              epoch_count: int = 1, lr_decay_iters: int = 50) -> float:
    """The multiplier of the base lr during 0-based epoch ``epoch`` of this run."""
    if lr_policy == "linear":
        return 1.0 - max(0, epoch + epoch_count - n_epochs) / float(n_epochs_decay + 1)
    if lr_policy == "step":
        return 0.1 ** (epoch // lr_decay_iters)
    if lr_policy == "cosine":
        return 0.5 * (1 + math.cos(math.pi * epoch / n_epochs))
    raise ValueError(f"lr_policy: expected one of {', '.join(LR_POLICIES)}, got '{lr_policy}'")


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
