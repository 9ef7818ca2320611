"""Op path reporting: every op says which implementation runs, and 'impl' is validated."""

import pytest
import torch

from dnnlib import Registry
from torch_utils.ops import impl_report
from torch_utils.ops.bias_act import bias_act
from torch_utils.ops.conv2d_resample import conv2d_resample
from torch_utils.ops.grid_sample_gradfix import grid_sample
from torch_utils.ops.impl_report import OpImpl, describe_op_paths, register_op, resolve_impl
from torch_utils.ops.modulated_conv2d import modulated_conv2d
from torch_utils.ops.upfirdn2d import upfirdn2d

OPS = ["bias_act", "conv2d_resample", "grid_sample", "modulated_conv2d", "upfirdn2d"]


@pytest.mark.parametrize("device", [None, "cpu", torch.device("cpu")])
def test_describe_op_paths_reports_the_reference_path_for_every_op(device):
    assert describe_op_paths(device) == {op: "ref" for op in OPS}


CALLS = {
    "bias_act": lambda impl: bias_act(torch.ones([1, 2]), impl=impl),
    "upfirdn2d": lambda impl: upfirdn2d(torch.ones([1, 1, 2, 2]), None, impl=impl),
    "conv2d_resample": lambda impl: conv2d_resample(torch.ones([1, 1, 2, 2]), torch.ones([1, 1, 1, 1]),
                                                    impl=impl),
    "modulated_conv2d": lambda impl: modulated_conv2d(torch.ones([1, 1, 2, 2]), torch.ones([1, 1, 1, 1]),
                                                      torch.ones([1, 1]), impl=impl),
    "grid_sample": lambda impl: grid_sample(torch.ones([1, 1, 2, 2]), torch.zeros([1, 1, 1, 2]), impl=impl),
}


@pytest.mark.parametrize("op", OPS)
def test_each_op_accepts_auto_and_ref_and_rejects_unknown_impls(op):
    assert torch.equal(CALLS[op]("auto"), CALLS[op]("ref"))
    with pytest.raises(ValueError, match="unknown implementation 'cuda'"):
        CALLS[op]("cuda")


def test_auto_prefers_the_first_available_implementation(monkeypatch):
    monkeypatch.setattr(impl_report, "OP_IMPLS", Registry("op"))
    on_cuda = OpImpl("cuda", lambda device: device is not None and device.type == "cuda")
    register_op("fake", on_cuda, impl_report.REF)
    assert resolve_impl("fake", "auto", torch.device("cuda")) == "cuda"
    assert resolve_impl("fake", "auto", torch.device("cpu")) == "ref"
    assert resolve_impl("fake", "ref", torch.device("cuda")) == "ref"
    with pytest.raises(ValueError, match="not available"):
        resolve_impl("fake", "cuda", torch.device("cpu"))
    with pytest.raises(ValueError, match="known: auto, cuda, ref"):
        resolve_impl("fake", "triton")
