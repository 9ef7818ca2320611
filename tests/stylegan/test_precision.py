"""Mixed precision: the bfloat16 choice next to the reference's float16, on CPU and (gpu-marked) CUDA."""

import json

import pytest
import torch
from click.testing import CliRunner

from thygan.cli.train import train_command
from thygan.io.checkpoint import load_checkpoint, save_checkpoint
from thygan.stylegan.networks import Discriminator, Generator
from thygan.stylegan.train_launch import resolve_options
from thygan.stylegan.training_options import TrainFlags, options_to_dict

# 16 px with num_fp16_res=4: the 8 and 16 px blocks are mixed-precision blocks, G's 4 px block is not.
MIXED_G = dict(z_dim=16, c_dim=3, w_dim=16, img_resolution=16, img_channels=3, mapping_kwargs=dict(num_layers=2),
               synthesis_kwargs=dict(channel_base=256, channel_max=32, num_fp16_res=4, conv_clamp=256))
MIXED_D = dict(c_dim=3, img_resolution=16, img_channels=3, channel_base=256, channel_max=32, num_fp16_res=4,
               conv_clamp=256, epilogue_kwargs=dict(mbstd_group_size=2))
BF16_TOLERANCE = 4e-2  # of the output's scale: 8-bit mantissas (eps 2^-8) over a handful of layers


def make_pair(mixed_dtype: str | None, *, seed: int = 0) -> tuple[Generator, Discriminator]:
    """Tiny G and D; ``mixed_dtype`` None leaves the key out, as an old config or a reference pickle does."""
    torch.manual_seed(seed)
    G_kwargs = json.loads(json.dumps(MIXED_G))
    D_kwargs = json.loads(json.dumps(MIXED_D))
    if mixed_dtype is not None:
        G_kwargs["synthesis_kwargs"]["mixed_dtype"] = mixed_dtype
        D_kwargs["block_kwargs"] = dict(mixed_dtype=mixed_dtype)
    return Generator(**G_kwargs), Discriminator(**D_kwargs)


def inputs(seed: int = 1, device: str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(4, 16, generator=gen).to(device), torch.eye(3)[[0, 1, 2, 0]].to(device)


def assert_close_at_scale(ours: torch.Tensor, reference: torch.Tensor, tolerance: float) -> None:
    assert ours.dtype == torch.float32 and torch.isfinite(ours).all()
    err = (ours - reference).abs().max().item()
    scale = reference.abs().max().item()
    assert err <= tolerance * scale, f"max error {err:.3g} at output scale {scale:.3g}"


def block_output_dtypes(net, run) -> dict[str, torch.dtype]:
    """The dtype of the feature maps x each block returns, by block name."""
    dtypes, hooks = {}, []
    for name, block in net.named_children():
        if hasattr(block, "use_fp16"):
            hooks.append(block.register_forward_hook(
                lambda _m, _in, out, name=name: dtypes.__setitem__(name, out[0].dtype)))
    try:
        run()
    finally:
        for hook in hooks:
            hook.remove()
    return dtypes


def test_bf16_runs_in_the_top_resolutions_on_cpu_and_float32_below():
    G, D = make_pair("bfloat16")
    z, c = inputs()
    with torch.no_grad():
        g_dtypes = block_output_dtypes(G.synthesis, lambda: G(z, c, noise_mode="const"))
        d_dtypes = block_output_dtypes(D, lambda: D(torch.randn(4, 3, 16, 16), c))
        forced = block_output_dtypes(G.synthesis, lambda: G(z, c, noise_mode="const", force_fp32=True))
    assert g_dtypes == {"b4": torch.float32, "b8": torch.bfloat16, "b16": torch.bfloat16}
    assert d_dtypes == {"b16": torch.bfloat16, "b8": torch.bfloat16}
    assert set(forced.values()) == {torch.float32}


def test_bf16_is_close_to_float32_with_the_same_weights():
    G, D = make_pair("bfloat16")
    z, c = inputs()
    with torch.no_grad():
        img, img_fp32 = G(z, c, noise_mode="const"), G(z, c, noise_mode="const", force_fp32=True)
        logits, logits_fp32 = D(img_fp32, c), D(img_fp32, c, force_fp32=True)
    assert_close_at_scale(img, img_fp32, BF16_TOLERANCE)
    assert_close_at_scale(logits, logits_fp32, BF16_TOLERANCE)
    assert not torch.equal(img, img_fp32)  # the reduced dtype really ran


def test_bf16_training_pass_gives_every_float32_parameter_a_gradient():
    G, D = make_pair("bfloat16")
    G.train()
    D.train()
    z, c = inputs()
    img = G(z, c, noise_mode="random")
    (img.square().sum() + D(img, c).sum()).backward()
    for net in (G, D):
        bad = [n for n, p in net.named_parameters()
               if p.dtype != torch.float32 or p.grad is None or p.grad.dtype != torch.float32
               or not torch.isfinite(p.grad).all() or not torch.any(p.grad != 0)]
        assert bad == []


def test_config_without_mixed_dtype_builds_the_float16_default():
    """Old checkpoints and reference pickles have no mixed_dtype: float16, i.e. float32 on CPU, bit-exact."""
    G, D = make_pair(None)
    assert "mixed_dtype" not in G.init_kwargs["synthesis_kwargs"] and D.init_kwargs["block_kwargs"] == {}
    assert G.synthesis.b16.mixed_dtype == torch.float16 and D.b16.mixed_dtype == torch.float16
    z, c = inputs()
    with torch.no_grad():
        assert torch.equal(G(z, c, noise_mode="const"), G(z, c, noise_mode="const", force_fp32=True))


def test_checkpoint_rebuilds_the_bf16_networks(tmp_path):
    G, D = make_pair("bfloat16")
    save_checkpoint(tmp_path / "net", networks={"G": G, "D": D})
    loaded = load_checkpoint(tmp_path / "net").networks
    assert loaded["G"].synthesis.b16.mixed_dtype == torch.bfloat16 and loaded["D"].b8.mixed_dtype == torch.bfloat16
    z, c = inputs()
    with torch.no_grad():
        assert torch.equal(loaded["G"](z, c, noise_mode="const"), G.eval()(z, c, noise_mode="const"))


def test_unknown_mixed_dtype_is_refused():
    with pytest.raises(ValueError, match="mixed_dtype must be one of float16, bfloat16"):
        Generator(**dict(MIXED_G, synthesis_kwargs=dict(MIXED_G["synthesis_kwargs"], mixed_dtype="float8")))


@pytest.mark.parametrize("changes, precision, mixed_dtype", [
    ({}, "fp16", None),                                   # the reference's kwargs, untouched
    ({"precision": "bf16"}, "bf16", "bfloat16"),
    ({"precision": "bf16", "fp32": True}, "fp32", None),  # --fp32 disables mixed precision altogether
])
def test_precision_flag_resolves_into_the_options(tiny_dataset, changes, precision, mixed_dtype):
    flags = TrainFlags(data=str(tiny_dataset), cfg="auto", cond=True, metrics="none", batch=4, workers=0,
                       device="cpu", **changes)
    opts, _ = resolve_options(flags)
    assert opts.precision == precision
    assert opts.G_kwargs["synthesis_kwargs"].get("mixed_dtype") == mixed_dtype
    assert opts.D_kwargs["block_kwargs"].get("mixed_dtype") == mixed_dtype
    G, D = Generator(**opts.G_kwargs), Discriminator(**opts.D_kwargs)  # the options build the networks
    expected = {None: torch.float16, "bfloat16": torch.bfloat16}[mixed_dtype]
    assert G.synthesis.b16.mixed_dtype == expected and D.b16.mixed_dtype == expected


def test_dry_run_shows_the_precision(tiny_dataset, tmp_path):
    result = CliRunner().invoke(train_command, [f"--outdir={tmp_path / 'runs'}", f"--data={tiny_dataset}",
                                               "--cfg=cpu32", "--cond=1", "--metrics=none", "--precision=bf16",
                                               "-n"])
    assert result.exit_code == 0, result.output
    assert '"precision": "bf16"' in result.output and '"mixed_dtype": "bfloat16"' in result.output
    bad = CliRunner().invoke(train_command, [f"--outdir={tmp_path}", f"--data={tiny_dataset}", "--precision=fp8",
                                            "-n"])
    assert bad.exit_code == 2 and "fp8" in bad.output


@pytest.mark.gpu
@pytest.mark.parametrize("mixed_dtype, tolerance", [("float16", 1e-2), ("bfloat16", BF16_TOLERANCE)])
def test_cuda_mixed_precision_matches_float32(mixed_dtype, tolerance):
    G, D = make_pair(mixed_dtype)
    G, D = G.cuda().eval(), D.cuda().eval()
    z, c = inputs(device="cuda")
    with torch.no_grad():
        dtypes = block_output_dtypes(G.synthesis, lambda: G(z, c, noise_mode="const"))
        img, img_fp32 = G(z, c, noise_mode="const"), G(z, c, noise_mode="const", force_fp32=True)
        logits, logits_fp32 = D(img_fp32, c), D(img_fp32, c, force_fp32=True)
    assert dtypes["b16"] == getattr(torch, mixed_dtype) and dtypes["b4"] == torch.float32
    assert_close_at_scale(img, img_fp32, tolerance)
    assert_close_at_scale(logits, logits_fp32, tolerance)
    G.train()
    D.train()
    img = G(z, c)
    (img.square().sum() + D(img, c).sum()).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in [*G.parameters(), *D.parameters()])


def test_a_bf16_run_resumes_as_bf16_without_repeating_precision(tiny_dataset, tmp_path, capsys):
    flags = TrainFlags(data=str(tiny_dataset), cfg="cpu32", metrics="none", workers=0, device="cpu")
    bf16, _ = resolve_options(TrainFlags(**{**flags.__dict__, "precision": "bf16"}))
    run_dir = tmp_path / "00000-run"
    save_checkpoint(run_dir / "network-snapshot-000004", networks={}, training_options=options_to_dict(bf16))
    resumed, _ = resolve_options(TrainFlags(**{**flags.__dict__, "resume": str(run_dir)}))
    assert resumed.precision == "bf16"
    assert resumed.G_kwargs["synthesis_kwargs"]["mixed_dtype"] == resumed.D_kwargs["block_kwargs"]["mixed_dtype"] \
        == "bfloat16"
    assert "note: --precision=bf16, as the resumed run" in capsys.readouterr().out
    changed, _ = resolve_options(TrainFlags(**{**flags.__dict__, "resume": str(run_dir), "precision": "fp16"}))
    assert changed.precision == "fp16" and "mixed_dtype" not in changed.G_kwargs["synthesis_kwargs"]
    fresh, _ = resolve_options(flags)
    assert fresh.precision == "fp16"
