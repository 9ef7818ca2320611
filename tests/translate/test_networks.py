"""Generators and discriminators against the reference's layouts; init; reference .pth import."""

import pytest
import torch

from thygan.errors import UserError
from thygan.translate.generator_file import import_reference_generator, load_generator, save_generator
from thygan.translate.networks import build_discriminator, build_generator, generator_name, init_weights

# Layout name in cyclegan_keys.json -> how we build the same network.
BUILDS = {
    "G_resnet_9blocks_instance_ngf64 (cycle_gan default, no dropout)": lambda: build_generator("resnet_9blocks"),
    "G_resnet_6blocks_instance_ngf64": lambda: build_generator("resnet_6blocks"),
    "G_resnet_9blocks_batch_ngf64_dropout": lambda: build_generator("resnet_9blocks", norm="batch", use_dropout=True),
    "G_unet_256_batch_ngf64_dropout (pix2pix default)": lambda: build_generator("unet_256", norm="batch",
                                                                                use_dropout=True),
    "G_unet_128_batch_ngf64_dropout": lambda: build_generator("unet_128", norm="batch", use_dropout=True),
    "D_basic_instance_ndf64_in3 (cycle_gan default)": lambda: build_discriminator("basic"),
    "D_basic_batch_ndf64_in6 (pix2pix default: D sees concat(A, B))":
        lambda: build_discriminator("basic", input_nc=6, norm="batch"),
    "D_pixel_instance_ndf64_in3": lambda: build_discriminator("pixel"),
}


def reference_state(layout: dict, seed: int = 0) -> dict[str, torch.Tensor]:
    """A state dict with the reference's keys and shapes and random values (BatchNorm counters int64)."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in layout["keys"]:
        if key.endswith("num_batches_tracked"):
            state[key] = torch.randint(0, 100, shape, generator=gen)
        elif key.endswith("running_var"):
            state[key] = torch.rand(shape, generator=gen) + 0.5
        else:
            state[key] = torch.randn(shape, generator=gen)
    return state


@pytest.fixture(scope="module")
def built():
    with torch.device("meta"):
        return {name: make() for name, make in BUILDS.items()}


def test_every_reference_layout_is_covered(reference_layouts):
    assert set(reference_layouts) == set(BUILDS)


@pytest.mark.parametrize("name", list(BUILDS))
def test_parameter_count_and_layout_match_reference(name, reference_layouts, built):
    layout, net = reference_layouts[name], built[name]
    assert sum(p.numel() for p in net.parameters()) == layout["params"]
    ours = [[k, list(v.shape)] for k, v in net.state_dict().items()]
    assert ours == layout["keys"]


@pytest.mark.parametrize("name", [n for n in BUILDS if n.startswith("D_") or "128" in n or "6blocks" in n])
def test_reference_state_dict_loads_strict(name, reference_layouts):
    net = BUILDS[name]()
    state = reference_state(reference_layouts[name])
    net.load_state_dict(state, strict=True)
    for key, value in net.state_dict().items():
        assert torch.equal(value, state[key].to(value.dtype))


@pytest.mark.parametrize("netG,size", [("resnet_6blocks", 20), ("unet_128", 128)])
@pytest.mark.parametrize("norm", ["instance", "batch", "none"])
def test_generator_shapes_and_range(netG, size, norm):
    G = build_generator(netG, input_nc=2, output_nc=3, ngf=4, norm=norm)
    init_weights(G, generator=torch.Generator().manual_seed(0))
    y = G(torch.rand(2, 2, size, size) * 2 - 1)
    assert y.shape == (2, 3, size, size)
    assert y.abs().max() <= 1 and torch.isfinite(y).all()
    assert generator_name(G) == netG


def test_patchgan_receptive_output_and_gradients():
    D = build_discriminator("basic", ndf=4)
    x = torch.randn(1, 3, 70, 70, requires_grad=True)
    out = D(x)
    assert out.shape == (1, 1, 6, 6)  # 70 -> 35 -> 17 -> 8 -> 7 -> 6
    out.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in D.parameters())
    # n_layers_D=2: 32 -> 16 -> 8 (stride 2) -> 7 (stride 1) -> 6 (the 1-channel conv)
    assert build_discriminator("n_layers", ndf=4, n_layers_D=2)(torch.randn(1, 3, 32, 32)).shape == (1, 1, 6, 6)
    assert build_discriminator("pixel", ndf=4)(torch.randn(1, 3, 5, 7)).shape == (1, 1, 5, 7)


def test_init_weights_statistics():
    G = build_generator("resnet_6blocks", ngf=16, norm="batch")
    init_weights(G, init_gain=0.02, generator=torch.Generator().manual_seed(0))
    w = torch.cat([m.weight.detach().flatten() for m in G.modules() if isinstance(m, torch.nn.Conv2d)])
    assert abs(float(w.std()) - 0.02) < 0.001 and abs(float(w.mean())) < 0.001
    bn = torch.cat([m.weight.detach() for m in G.modules() if isinstance(m, torch.nn.BatchNorm2d)])
    assert abs(float(bn.mean()) - 1) < 0.01
    assert all(float(m.bias.detach().abs().sum()) == 0 for m in G.modules() if isinstance(m, torch.nn.BatchNorm2d))


@pytest.mark.parametrize("name,netG,size", [("G_resnet_6blocks_instance_ngf64", "resnet_6blocks", 16),
                                            ("G_resnet_9blocks_batch_ngf64_dropout", "resnet_9blocks", 16)])
def test_reference_pth_imports_into_safe_format(tmp_path, reference_layouts, name, netG, size):
    state = reference_state(reference_layouts[name], seed=3)
    file = tmp_path / "latest_net_G_A.pth"
    # DataParallel prefixes and the InstanceNorm running stats of pre-0.4 files are tolerated.
    extra = {"model.2.running_mean": torch.zeros(64), "model.2.running_var": torch.ones(64)} \
        if "instance" in name else {}
    torch.save({"module." + k: v for k, v in {**state, **extra}.items()}, file)
    G = import_reference_generator(file, netG=netG, prefer_dropout="dropout" in name)
    assert generator_name(G) == netG
    out = save_generator(tmp_path / "imported", G)
    again = load_generator(out)
    for key, value in again.state_dict().items():
        assert torch.equal(value, state[key])
    x = torch.rand(1, 3, size, size) * 2 - 1
    assert torch.equal(G.eval()(x), again.eval()(x))


def test_checkpoint_of_another_netG_is_one_line_error(tmp_path, reference_layouts):
    file = tmp_path / "5_net_G_A.pth"
    torch.save(reference_state(reference_layouts["G_resnet_6blocks_instance_ngf64"]), file)
    with pytest.raises(UserError, match=r"holds a resnet_6blocks generator .*not --netG resnet_9blocks") as err:
        import_reference_generator(file, netG="resnet_9blocks")
    assert "\n" not in str(err.value)
    G = build_generator("unet_128", ngf=4)
    saved = save_generator(tmp_path / "ours", G)
    with pytest.raises(UserError, match="holds a unet_128 generator, not --netG resnet_9blocks"):
        load_generator(saved, netG="resnet_9blocks")


def test_not_a_generator_and_pickled_code_refused(tmp_path):
    file = tmp_path / "x.pth"
    torch.save({"foo.weight": torch.zeros(3)}, file)
    with pytest.raises(UserError, match="not a CycleGAN/pix2pix generator"):
        import_reference_generator(file)
    torch.save({"net": torch.nn.Linear(2, 2)}, file)  # a pickled module: weights_only refuses it
    with pytest.raises(UserError, match="weights_only=True"):
        import_reference_generator(file)
