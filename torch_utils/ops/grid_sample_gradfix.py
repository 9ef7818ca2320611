"""Bilinear ``grid_sample`` that can be differentiated twice with respect to its input.

ADA's geometric augmentations resample the discriminator's input with ``grid_sample``, and the R1
penalty differentiates the gradient of D's output w.r.t. that input once more (Karras et al. 2020,
"Training GANs with limited data", section 2-3). PyTorch implements no derivative for
``aten::grid_sampler_2d_backward``, so plain ``F.grid_sample`` fails there. Bilinear sampling is
linear in the input, so its input-gradient is the adjoint sampler applied to the incoming gradient,
and the derivative of that adjoint is the forward sampler again: that closes the recursion.
Second-order gradients w.r.t. the grid are not supported (ADA never needs them).
"""

import torch
import torch.nn.functional as F

from torch_utils.ops.impl_report import REF, register_op, resolve_impl

register_op("grid_sample", REF)

_BILINEAR, _ZEROS = 0, 0  # aten enum values for mode='bilinear', padding_mode='zeros'


def grid_sample(input: torch.Tensor, grid: torch.Tensor, *, impl: str = "auto") -> torch.Tensor:
    """``F.grid_sample(input, grid, 'bilinear', 'zeros', align_corners=False)``, twice differentiable.

    Args:
        input: ``[N, C, H, W]``.
        grid: ``[N, Ho, Wo, 2]`` sampling positions in [-1, 1] (x, y).
        impl: 'auto' or 'ref'.

    Returns:
        ``[N, C, Ho, Wo]``.
    """
    resolve_impl("grid_sample", impl, input.device)
    if input.ndim != 4 or grid.ndim != 4 or grid.shape[-1] != 2 or grid.shape[0] != input.shape[0]:
        raise ValueError(f"grid_sample: expected input [N, C, H, W] and grid [N, Ho, Wo, 2], "
                         f"got {list(input.shape)} and {list(grid.shape)}")
    return _GridSample.apply(input, grid)


class _GridSample(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(input, grid)
        return F.grid_sample(input, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        input, grid = ctx.saved_tensors
        output_mask = (ctx.needs_input_grad[0], ctx.needs_input_grad[1])
        grad_input, grad_grid = _GridSampleBackward.apply(grad_output, input, grid, output_mask)
        return grad_input, grad_grid


class _GridSampleBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx, grad_output, input, grid, output_mask):
        ctx.save_for_backward(grid)
        ctx.set_materialize_grads(False)  # an unused grad_grid arrives as None, not as zeros
        grad_input, grad_grid = torch.ops.aten.grid_sampler_2d_backward(
            grad_output, input, grid, _BILINEAR, _ZEROS, False, list(output_mask))
        return (grad_input if output_mask[0] else None), (grad_grid if output_mask[1] else None)

    @staticmethod
    def backward(ctx, grad2_grad_input, grad2_grad_grid):
        if grad2_grad_grid is not None or ctx.needs_input_grad[2]:
            raise NotImplementedError("grid_sample: no second-order gradients involving the grid")
        (grid,) = ctx.saved_tensors
        grad2_grad_output = None
        if ctx.needs_input_grad[0] and grad2_grad_input is not None:
            # d(grad_input)/d(grad_output) is the adjoint of sampling; its adjoint is sampling itself.
            grad2_grad_output = _GridSample.apply(grad2_grad_input, grid)
        # grad_input is linear in grad_output and independent of input: no term for input.
        return grad2_grad_output, None, None, None
