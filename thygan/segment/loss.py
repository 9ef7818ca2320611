"""HoVer-Net's training loss (MedIA 2019, section 3.4) as the reference computes it (``models/hovernet``).

The sum of six terms, all weighted 1 as in the reference's ``opt.py``: NP cross-entropy + Dice, HV MSE +
MSGE (mean squared error of the HV maps' gradients inside nuclei), TP cross-entropy + Dice. MONAI's
``HoVerNetLoss`` computes the cross-entropy, Dice (smooth 1e-3, pooled over the batch, summed over
channels) and MSE terms as the reference does; two things differ, handled here:

- its default weight on the HV MSE is 2; ``hovernet_loss`` passes 1 (the reference's);
- its MSGE takes gradients with MONAI's ``SobelGradients``: separable 5x5 Sobel kernels normalised so
  that a unit ramp has gradient 1, applied with reflect padding. The reference builds unnormalised
  5x5 "Sobel-like" kernels (``sobel_kernels``: the same ramp gets gradient 12, so its MSGE is ~144x
  MONAI's and weighs that much more against the other terms) and zero-pads. Hence our own ``msge``,
  used in MONAI's loss in place of its gradient term (``msge_kernel='reference'``, the default). The
  MONAI kernel stays selectable ('monai') so that runs started with it resume unchanged.

The orientation follows the paper (the horizontal map differentiated along x, the vertical along y).
Whether the reference's own kernel construction (``torch.meshgrid`` with its default 'ij' indexing)
puts the x offsets along the columns as here could not be checked against its code offline.
"""

import torch
import torch.nn.functional as F
from monai.apps.pathology.losses import HoVerNetLoss

from thygan.errors import UserError

MSGE_KERNELS = ("reference", "monai")


def sobel_kernels(size: int = 5, *, dtype: torch.dtype = torch.float32,
                  device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The reference's gradient kernels, each [size, size], indexed [y, x] with offsets y, x in -r..r:
    kernel_h[y, x] = x / (x^2 + y^2 + 1e-15) (d/dx), kernel_v[y, x] = y / (x^2 + y^2 + 1e-15) (d/dy)."""
    offsets = torch.arange(size, dtype=dtype, device=device) - size // 2
    y, x = torch.meshgrid(offsets, offsets, indexing="ij")
    norm = x * x + y * y + 1.0e-15  # the reference's guard against 0/0 at the centre
    return x / norm, y / norm


def hv_gradients(hv: torch.Tensor, *, size: int = 5) -> torch.Tensor:
    """hv: [N, 2, H, W] (channel 0 horizontal, 1 vertical) -> [N, 2, H, W]: d/dx of channel 0 and d/dy of
    channel 1, by cross-correlation with ``sobel_kernels`` and zero padding (the output keeps H x W)."""
    kernel_h, kernel_v = sobel_kernels(size, dtype=hv.dtype, device=hv.device)
    return F.conv2d(hv, torch.stack([kernel_h, kernel_v])[:, None], padding=size // 2, groups=2)


def msge(pred: torch.Tensor, true: torch.Tensor, focus: torch.Tensor) -> torch.Tensor:
    """Mean squared gradient error of HV maps inside nuclei, as the reference's ``msge_loss``.

    Args:
        pred, true: [N, 2, H, W] predicted and target HV maps.
        focus: [N, H, W] target nucleus mask (1 inside nuclei), counted for both channels.

    Returns:
        Scalar: sum of focus * (grad pred - grad true)^2 over pixels and channels / (2 * sum focus + 1e-8).
    """
    focus = focus[:, None].expand(-1, 2, -1, -1).to(pred.dtype)
    diff = hv_gradients(pred) - hv_gradients(true)
    return (focus * diff * diff).sum() / (focus.sum() + 1.0e-8)


class _ReferenceMSGELoss(HoVerNetLoss):
    """MONAI's loss with the reference's gradient term (the one method MONAI computes differently)."""

    def _mse_gradient_loss(self, prediction: torch.Tensor, target: torch.Tensor,
                           focus: torch.Tensor) -> torch.Tensor:
        return msge(prediction, target, focus)


def hovernet_loss(msge_kernel: str = "reference") -> HoVerNetLoss:
    """The training loss: called as MONAI's, loss(prediction, target) with dicts of [N, C, H, W] tensors
    keyed nucleus_prediction / horizontal_vertical / type_prediction (targets one-hot)."""
    if msge_kernel not in MSGE_KERNELS:
        raise UserError(f"--msge-kernel: expected one of {', '.join(MSGE_KERNELS)}, got {msge_kernel!r}")
    loss_class = _ReferenceMSGELoss if msge_kernel == "reference" else HoVerNetLoss
    return loss_class(lambda_hv_mse=1.0)  # the reference weighs every term 1 (MONAI's default HV MSE weight: 2)
