"""Networks: exact reference state-dict layout, golden-output parity, and behavioural contracts."""

import json

import pytest
import torch
from safetensors.torch import load_file

from thygan.stylegan.networks import NETWORKS, Discriminator, Generator, MinibatchStdLayer
from thygan.stylegan.presets import network_kwargs, resolve_preset
from thygan.stylegan.summary import count_parameters, format_parameter_table

TINY_G = dict(z_dim=16, c_dim=3, w_dim=16, img_resolution=16, img_channels=3,
              mapping_kwargs=dict(num_layers=2), synthesis_kwargs=dict(channel_base=256, channel_max=32))
TINY_D = dict(c_dim=3, img_resolution=16, img_channels=3, channel_base=256, channel_max=32,
              epilogue_kwargs=dict(mbstd_group_size=2))


@pytest.fixture(scope="module")
def reference_configs(golden_dir):
    return json.loads((golden_dir / "stylegan2_ada_keys.json").read_text())["configs"]


@pytest.fixture(scope="module")
def golden_cond32(golden_dir, reference_configs):
    cfg = reference_configs["cond32"]
    weights = load_file(golden_dir / "cond32_weights.safetensors")
    G = Generator(**cfg["G_kwargs"]).eval()
    D = Discriminator(**cfg["D_kwargs"]).eval()
    G.load_state_dict({k[len("G_ema."):]: v for k, v in weights.items() if k.startswith("G_ema.")}, strict=True)
    D.load_state_dict({k[len("D."):]: v for k, v in weights.items() if k.startswith("D.")}, strict=True)
    return G, D, load_file(golden_dir / "cond32_outputs.safetensors")


@pytest.mark.parametrize("config", ["cond32", "uncond32", "paper512_cond2", "paper512_uncond"])
def test_state_dict_layout_equals_reference(reference_configs, config):
    cfg = reference_configs[config]
    for net_name, cls, kwargs in [("G", Generator, cfg["G_kwargs"]), ("D", Discriminator, cfg["D_kwargs"])]:
        net = cls(**kwargs)
        ours = [[k, list(v.shape), str(v.dtype).replace("torch.", "")] for k, v in net.state_dict().items()]
        assert ours == cfg[net_name]["keys"], f"{config} {net_name}"
        assert count_parameters(net) == cfg[net_name]["params"]
        assert count_parameters(net, trainable_only=True) == cfg[net_name]["trainable"]


def test_presets_build_the_reference_networks(reference_configs):
    """train.py's paper512 preset must produce exactly the reference kwargs for the same data."""
    cfg = reference_configs["paper512_cond2"]
    G_kwargs, D_kwargs = network_kwargs(resolve_preset("paper512", resolution=512), resolution=512, c_dim=2)
    assert G_kwargs == cfg["G_kwargs"]
    assert D_kwargs == cfg["D_kwargs"]


@pytest.mark.parametrize("c", [0, 1, 2])
@pytest.mark.parametrize("psi", ["1p0", "0p7"])
def test_generator_matches_reference_outputs(golden_cond32, c, psi):
    G, D, gold = golden_cond32
    z = gold["z"]
    onehot = torch.nn.functional.one_hot(torch.full([len(z)], c), 3).float()
    with torch.no_grad():
        ws = G.mapping(z, onehot, truncation_psi=float(psi.replace("p", ".")))
        img = G.synthesis(ws, noise_mode="const")
        logits = D(img, onehot)
    torch.testing.assert_close(ws, gold[f"ws_c{c}_psi{psi}"], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(img, gold[f"img_c{c}_psi{psi}"], atol=1e-4, rtol=0)
    torch.testing.assert_close(logits, gold[f"dlogits_fake_c{c}_psi{psi}"], atol=1e-4, rtol=1e-4)
    pixels = (img.permute(0, 2, 3, 1) * 127.5 + 128).clamp(0, 255).to(torch.uint8)
    diff = (pixels.int() - gold[f"uint8_c{c}_psi{psi}"].int()).abs()
    assert diff.max() <= 1 and (diff > 0).float().mean() < 1e-3  # float rounding at .5 boundaries only


def test_generator_noise_none_matches_reference(golden_cond32):
    G, _, gold = golden_cond32
    onehot = torch.nn.functional.one_hot(torch.full([8], 1), 3).float()
    with torch.no_grad():
        img = G(gold["z"], onehot, noise_mode="none")
    torch.testing.assert_close(img, gold["img_c1_psi1p0_noisenone"], atol=1e-4, rtol=0)


def test_discriminator_matches_reference_on_fixed_images(golden_cond32):
    _, D, gold = golden_cond32
    with torch.no_grad():
        logits = D(gold["d_input"], gold["d_input_c"])
    torch.testing.assert_close(logits, gold["dlogits_input"], atol=1e-4, rtol=1e-4)


def test_registry_names_the_top_level_networks():
    assert NETWORKS.get("Generator") is Generator and NETWORKS.get("Discriminator") is Discriminator


def test_init_kwargs_rebuild_an_identical_network():
    G = Generator(**TINY_G)
    rebuilt = Generator(**json.loads(json.dumps(G.init_kwargs)))
    rebuilt.load_state_dict(G.state_dict(), strict=True)
    z, c = torch.randn(2, 16), torch.eye(3)[:2]
    torch.testing.assert_close(G(z, c, noise_mode="const"), rebuilt(z, c, noise_mode="const"), rtol=0, atol=0)


@pytest.mark.parametrize("architecture", ["orig", "skip", "resnet"])
def test_every_generator_parameter_receives_a_gradient(architecture):
    kwargs = dict(TINY_G, synthesis_kwargs=dict(TINY_G["synthesis_kwargs"], architecture=architecture))
    G = Generator(**kwargs).train()
    img = G(torch.randn(2, 16), torch.eye(3)[:2], noise_mode="random")
    assert img.shape == (2, 3, 16, 16) and torch.isfinite(img).all()
    img.square().sum().backward()
    missing = [n for n, p in G.named_parameters() if p.grad is None or not torch.any(p.grad != 0)]
    assert missing == []


@pytest.mark.parametrize("architecture", ["orig", "skip", "resnet"])
def test_every_discriminator_parameter_receives_a_gradient(architecture):
    D = Discriminator(**dict(TINY_D, architecture=architecture)).train()
    logits = D(torch.randn(4, 3, 16, 16), torch.eye(3)[[0, 1, 2, 0]])
    assert logits.shape == (4, 1) and torch.isfinite(logits).all()
    logits.sum().backward()
    missing = [n for n, p in D.named_parameters() if p.grad is None or not torch.any(p.grad != 0)]
    assert missing == []


def test_class_label_changes_generator_and_discriminator_outputs():
    torch.manual_seed(0)
    G, D = Generator(**TINY_G).eval(), Discriminator(**TINY_D).eval()
    z = torch.randn(2, 16).repeat(2, 1)
    c = torch.eye(3)[[0, 0, 1, 1]]
    with torch.no_grad():
        img = G(z, c, noise_mode="const")
        logits = D(img[[0, 1, 0, 1]], c)
    assert not torch.allclose(img[:2], img[2:])
    assert not torch.allclose(logits[:2], logits[2:])


def test_noise_modes():
    G = Generator(**TINY_G).eval()
    for name, p in G.named_parameters():
        if name.endswith("noise_strength"):
            p.data.fill_(0.5)
    z, c = torch.randn(2, 16), torch.eye(3)[:2]
    with torch.no_grad():
        const = [G(z, c, noise_mode="const") for _ in range(2)]
        rand = [G(z, c, noise_mode="random") for _ in range(2)]
        none = G(z, c, noise_mode="none")
    torch.testing.assert_close(const[0], const[1], rtol=0, atol=0)
    assert not torch.allclose(rand[0], rand[1])
    assert not torch.allclose(none, const[0])
    with pytest.raises(ValueError, match="noise_mode"):
        G(z, c, noise_mode="loud")


def test_truncation_psi_zero_gives_w_avg_and_cutoff_limits_it():
    G = Generator(**TINY_G).eval()
    G.mapping.w_avg.copy_(torch.randn(16))
    z, c = torch.randn(3, 16), torch.eye(3)
    ws = G.mapping(z, c, truncation_psi=0)
    torch.testing.assert_close(ws, G.mapping.w_avg.expand_as(ws))
    full = G.mapping(z, c)
    cut = G.mapping(z, c, truncation_psi=0, truncation_cutoff=2)
    torch.testing.assert_close(cut[:, :2], G.mapping.w_avg.expand(3, 2, 16))
    torch.testing.assert_close(cut[:, 2:], full[:, 2:])


def test_w_avg_tracks_the_mean_of_w_in_training_mode():
    G = Generator(**TINY_G).train()
    z, c = torch.randn(8, 16), torch.eye(3)[torch.arange(8) % 3]
    before = G.mapping.w_avg.clone()
    ws = G.mapping(z, c)
    expected = ws[:, 0].detach().mean(0) * (1 - 0.995) + before * 0.995
    torch.testing.assert_close(G.mapping.w_avg, expected)
    G.mapping(z, c, skip_w_avg_update=True)
    torch.testing.assert_close(G.mapping.w_avg, expected)


def test_fused_and_unfused_modconv_give_the_same_image():
    G = Generator(**TINY_G).eval()
    z, c = torch.randn(2, 16), torch.eye(3)[:2]
    with torch.no_grad():
        a = G(z, c, noise_mode="const", fused_modconv=True)
        b = G(z, c, noise_mode="const", fused_modconv=False)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_fp16_blocks_stay_float32_on_cpu():
    kwargs = dict(TINY_G, synthesis_kwargs=dict(TINY_G["synthesis_kwargs"], num_fp16_res=4, conv_clamp=256))
    G = Generator(**kwargs).eval()
    assert G.synthesis.b16.use_fp16
    with torch.no_grad():
        x, img = G.synthesis.b4(None, None, torch.randn(1, 2, 16))
    assert x.dtype == torch.float32 and img.dtype == torch.float32


def test_freeze_d_turns_leading_layers_into_buffers():
    D = Discriminator(**dict(TINY_D, block_kwargs=dict(freeze_layers=2)))
    frozen = {n for n, _ in D.named_buffers() if n.endswith(".weight")}
    assert frozen == {"b16.fromrgb.weight", "b16.conv0.weight"}
    assert "b16.conv1.weight" in dict(D.named_parameters())


def test_minibatch_std_against_a_direct_loop():
    x = torch.randn(6, 4, 3, 3)
    out = MinibatchStdLayer(group_size=3)(x)
    groups = 6 // 3
    for n in range(6):
        members = x[[m for m in range(6) if m % groups == n % groups]]
        expected = (members.var(dim=0, unbiased=False) + 1e-8).sqrt().mean()
        torch.testing.assert_close(out[n, 4], expected.expand(3, 3))
    torch.testing.assert_close(out[:, :4], x)
    with pytest.raises(ValueError, match="divisible"):
        MinibatchStdLayer(group_size=4)(torch.randn(6, 4, 3, 3))


def test_parameter_table_totals():
    G, D = Generator(**TINY_G), Discriminator(**TINY_D)
    table = format_parameter_table({"G": G, "D": D})
    assert f"{count_parameters(G):,}" in table and f"{count_parameters(D):,}" in table
    assert "G.mapping" in table and "D.b4" in table


def test_bad_resolution_is_refused():
    with pytest.raises(ValueError, match="power of two"):
        Generator(**dict(TINY_G, img_resolution=24))
