"""The training loop's arithmetic against hand-worked numbers: the `auto` preset formulas, Adam's
rescaling for lazy regularization, the G_ema decay, the ADA update of p, and style mixing."""

import math

import numpy as np
import pytest
import torch

from thygan.stylegan.augment import build_augment_pipe
from thygan.stylegan.loss import LossConfig, StyleGAN2Loss
from thygan.stylegan.networks import Discriminator, Generator
from thygan.stylegan.presets import resolve_preset
from thygan.stylegan.training_loop import adjust_augment_p, build_phases, update_ema
from thygan.stylegan.training_options import AugmentOptions, TrainFlags, TrainingOptions, resolve_training_options
from torch_utils.training_stats import StatsAccumulator

# ---------------------------------------------------------------------------------------------------
# --cfg=auto (stylegan2-ada-pytorch train.py): the numbers worked by hand from
#   mb = max(min(gpus * min(4096 // res, 32), 64), gpus), mbstd = min(mb // gpus, 4),
#   fmaps = 1 if res >= 512 else 0.5, lrate = 0.002 if res >= 1024 else 0.0025,
#   gamma = 0.0002 * res**2 / mb, ema = mb * 10 / 32.
AUTO_CASES = [
    # res, gpus, mb, mbstd, fmaps, lrate, gamma, ema
    (256, 1, 16, 4, 0.5, 0.0025, 0.8192, 5.0),     # 1 * min(16, 32) = 16; 0.0002 * 65536 / 16
    (256, 4, 64, 4, 0.5, 0.0025, 0.2048, 20.0),    # 4 * 16 = 64 (at the cap); 64 // 4 = 16 -> 4
    (512, 1, 8, 4, 1.0, 0.0025, 6.5536, 2.5),      # min(8, 32) = 8; 0.0002 * 262144 / 8
    (512, 4, 32, 4, 1.0, 0.0025, 1.6384, 10.0),    # 4 * 8 = 32; 32 // 4 = 8 -> 4
    (128, 8, 64, 4, 0.5, 0.0025, 0.0512, 20.0),    # 8 * 32 = 256, capped at 64
    (1024, 1, 4, 4, 1.0, 0.002, 52.4288, 1.25),    # 4096 // 1024 = 4; the only res with lrate 0.002
]


@pytest.mark.parametrize("res, gpus, mb, mbstd, fmaps, lrate, gamma, ema", AUTO_CASES)
def test_auto_preset_matches_the_reference_formulas(res, gpus, mb, mbstd, fmaps, lrate, gamma, ema):
    got = resolve_preset("auto", resolution=res, gpus=gpus)
    assert (got.ref_gpus, got.mb, got.mbstd, got.fmaps, got.lrate) == (gpus, mb, mbstd, fmaps, lrate)
    assert got.gamma == pytest.approx(gamma, rel=1e-12) and got.ema == pytest.approx(ema, rel=1e-12)
    assert got.ramp == 0.05 and got.map == 2


class _FakeDataset:
    """What resolve_training_options reads from a dataset, without images."""

    def __init__(self, resolution: int):
        self.resolution, self.num_channels, self.name, self.path = resolution, 3, "fake", "fake.zip"
        self.labels_available, self.label_dim, self.class_names = False, 0, None

    def __len__(self):
        return 1000


@pytest.mark.parametrize("res, gpus, mb, mbstd, fmaps, lrate, gamma, ema", AUTO_CASES[:4])
def test_auto_preset_reaches_the_training_options(res, gpus, mb, mbstd, fmaps, lrate, gamma, ema):
    """train.py's derived arguments: channel_base = fmaps * 32768, mapping layers = map, D's mbstd group,
    batch_gpu = mb // gpus (no accumulation for auto), R1 gamma, EMA half-life and ramp-up."""
    opts, desc = resolve_training_options(TrainFlags(data="fake.zip", gpus=gpus), _FakeDataset(res), "cpu")
    assert desc == f"fake-auto{gpus}"
    assert opts.batch_size == mb and opts.batch_gpu == mb // gpus and opts.num_gpus == gpus
    assert opts.G_kwargs["synthesis_kwargs"]["channel_base"] == opts.D_kwargs["channel_base"] == int(fmaps * 32768)
    assert opts.G_kwargs["synthesis_kwargs"]["channel_max"] == opts.D_kwargs["channel_max"] == 512
    assert opts.G_kwargs["mapping_kwargs"]["num_layers"] == 2
    assert opts.D_kwargs["epilogue_kwargs"]["mbstd_group_size"] == mbstd
    assert opts.lrate == lrate and opts.loss.r1_gamma == pytest.approx(gamma, rel=1e-12)
    assert opts.ema_kimg == pytest.approx(ema, rel=1e-12) and opts.ema_rampup == 0.05
    assert opts.betas == (0.0, 0.99) and opts.eps == 1e-8
    assert (opts.G_reg_interval, opts.D_reg_interval) == (4, 16)


# ---------------------------------------------------------------------------------------------------
# Lazy regularization (Karras et al. 2020, appendix B): with a penalty every k minibatches, Adam sees
# k + 1 steps per k minibatches, so lr and betas are rescaled by ratio = k / (k + 1).


def _adam_settings(opt: torch.optim.Optimizer) -> tuple[float, tuple[float, float], float]:
    (group,) = opt.param_groups
    return group["lr"], tuple(group["betas"]), group["eps"]


def test_build_phases_rescales_adam_for_lazy_regularization():
    G, D = torch.nn.Linear(3, 2), torch.nn.Linear(2, 1)
    opts = TrainingOptions(lrate=0.0025, betas=(0.0, 0.99), G_reg_interval=4, D_reg_interval=16)
    phases = build_phases(G, D, opts)
    assert [(ph.name, ph.interval) for ph in phases] == [("Gmain", 1), ("Greg", 4), ("Dmain", 1), ("Dreg", 16)]
    assert phases[0].opt is phases[1].opt and phases[2].opt is phases[3].opt  # main and reg share Adam
    assert phases[0].module is G and phases[2].module is D
    # G: ratio 4/5 -> lr 0.002, beta2 = exp(0.8 ln 0.99); D: ratio 16/17.
    for opt, module, ratio, lr in ((phases[0].opt, G, 0.8, 0.002), (phases[2].opt, D, 16 / 17, 0.0025 * 16 / 17)):
        got_lr, (beta1, beta2), eps = _adam_settings(opt)
        assert got_lr == pytest.approx(lr, rel=1e-12)
        assert beta1 == 0.0 and beta2 == pytest.approx(math.exp(ratio * math.log(0.99)), rel=1e-12)
        assert eps == 1e-8
        assert [id(p) for p in opt.param_groups[0]["params"]] == [id(p) for p in module.parameters()]
    assert _adam_settings(phases[0].opt)[1][1] == pytest.approx(0.991992, abs=1e-6)  # worked by hand
    assert _adam_settings(phases[2].opt)[1][1] == pytest.approx(0.990585, abs=1e-6)


@pytest.mark.parametrize("off", [None, 0])
def test_build_phases_without_regularization_keeps_adam_as_given(off):
    G, D = torch.nn.Linear(3, 2), torch.nn.Linear(2, 1)
    opts = TrainingOptions(lrate=0.0025, betas=(0.5, 0.99), G_reg_interval=off, D_reg_interval=off)
    phases = build_phases(G, D, opts)
    assert [(ph.name, ph.interval) for ph in phases] == [("Gboth", 1), ("Dboth", 1)]
    for phase in phases:
        assert _adam_settings(phase.opt) == (0.0025, (0.5, 0.99), 1e-8)


# ---------------------------------------------------------------------------------------------------
# G_ema: half-life ema_kimg thousand images, i.e. beta = 0.5 ** (batch / ema_nimg) per minibatch, with
# ema_nimg at most ema_rampup * cur_nimg early in training.


class _TinyNet(torch.nn.Module):
    def __init__(self, seed: int):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.weight = torch.nn.Parameter(torch.randn([3, 2], generator=generator))
        self.bias = torch.nn.Parameter(torch.randn([3], generator=generator))
        self.register_buffer("w_avg", torch.randn([2], generator=generator))


def _ema_expected(G_ema, G, beta):
    """p + beta * (p_ema - p) in float64, per parameter."""
    return {name: p.detach().double() + beta * (p_ema.detach().double() - p.detach().double())
            for (name, p_ema), p in zip(G_ema.named_parameters(), G.parameters())}


@pytest.mark.parametrize("ema_rampup, cur_nimg, ema_nimg", [
    (None, 0, 10_000),         # no ramp-up: the half-life is ema_kimg from the start
    (0.05, 1_000, 50),         # ramp-up: 0.05 * 1000 images < 10 kimg
    (0.05, 1_000_000, 10_000),  # ramp-up over: 0.05 * 1e6 = 50 kimg > 10 kimg
])
def test_update_ema_uses_the_half_life_in_kimg(ema_rampup, cur_nimg, ema_nimg):
    G, G_ema = _TinyNet(0), _TinyNet(1)
    beta = 0.5 ** (32 / ema_nimg)
    expected = _ema_expected(G_ema, G, beta)
    opts = TrainingOptions(batch_size=32, ema_kimg=10, ema_rampup=ema_rampup)
    update_ema(G_ema, G, opts=opts, cur_nimg=cur_nimg)
    for name, p_ema in G_ema.named_parameters():
        torch.testing.assert_close(p_ema.double(), expected[name], rtol=0, atol=1e-6)
    assert torch.equal(G_ema.w_avg, G.w_avg)  # buffers are copied, not averaged


def test_update_ema_at_the_start_of_a_ramped_run_copies_G():
    G, G_ema = _TinyNet(0), _TinyNet(1)
    update_ema(G_ema, G, opts=TrainingOptions(batch_size=32, ema_kimg=10, ema_rampup=0.05), cur_nimg=0)
    for p_ema, p in zip(G_ema.parameters(), G.parameters()):
        assert torch.equal(p_ema, p)


def test_update_ema_halves_the_gap_in_one_half_life():
    """ema_kimg = 0.064: after 64 images (16 minibatches of 4) with G held still, G_ema is half-way."""
    G, G_ema = _TinyNet(0), _TinyNet(1)
    start = [p_ema.detach().clone() for p_ema in G_ema.parameters()]
    opts = TrainingOptions(batch_size=4, ema_kimg=0.064, ema_rampup=None)
    for step in range(16):
        update_ema(G_ema, G, opts=opts, cur_nimg=4 * step)
    for p_ema, p, p0 in zip(G_ema.parameters(), G.parameters(), start):
        torch.testing.assert_close(p_ema - p, (p0 - p) / 2, rtol=0, atol=1e-6)


# ---------------------------------------------------------------------------------------------------
# ADA (Karras et al. 2020b, section 3): every `interval` minibatches p moves by
# sign(E[sign D(real)] - target) * batch * interval / (speed_kimg * 1000), and never below 0.


@pytest.fixture
def ada():
    pipe = build_augment_pipe("bgc")
    # step = 8 * 4 / (0.1 * 1000) = 0.32
    opts = TrainingOptions(batch_size=8, augment=AugmentOptions(mode="ada", target=0.6, interval=4, speed_kimg=0.1))
    return pipe, StatsAccumulator("cpu"), opts


def _signs(stats: StatsAccumulator, *values: float) -> None:
    stats.add("Loss/signs/real", torch.tensor(values))


def test_adjust_augment_p_steps_up_above_the_target_and_down_below(ada):
    pipe, stats, opts = ada
    pipe.p.fill_(0.5)
    _signs(stats, 1, 1, 1, 1)             # mean 1 > 0.6
    adjust_augment_p(pipe, stats, opts)
    assert float(pipe.p) == pytest.approx(0.82, abs=1e-6)
    _signs(stats, 1, 1, 1, -1)            # mean 0.5 < 0.6
    adjust_augment_p(pipe, stats, opts)
    assert float(pipe.p) == pytest.approx(0.5, abs=1e-6)
    adjust_augment_p(pipe, stats, opts)   # nothing new since the last adjustment: p stays
    assert float(pipe.p) == pytest.approx(0.5, abs=1e-6)


def test_adjust_augment_p_clamps_at_zero(ada):
    pipe, stats, opts = ada
    pipe.p.fill_(0.1)
    _signs(stats, -1, -1)
    adjust_augment_p(pipe, stats, opts)
    assert float(pipe.p) == 0.0


def test_adjust_augment_p_uses_the_mean_over_all_samples(ada):
    """Mean over the 10 values is -0.2 (below a target of -0.1); the mean of the two batches' means
    would be 0 (above it)."""
    pipe, stats, opts = ada
    opts.augment.target = -0.1
    pipe.p.fill_(0.5)
    _signs(stats, 1, 1, 1, 1)
    _signs(stats, -1, -1, -1, -1, -1, -1)
    adjust_augment_p(pipe, stats, opts)
    assert float(pipe.p) == pytest.approx(0.18, abs=1e-6)


def test_adjust_augment_p_holds_at_the_target(ada):
    pipe, stats, opts = ada
    opts.augment.target = 0.5
    pipe.p.fill_(0.3)
    _signs(stats, 1, 1, 1, -1)            # mean exactly 0.5: sign(0) = 0
    adjust_augment_p(pipe, stats, opts)
    assert float(pipe.p) == pytest.approx(0.3, abs=1e-7)


# ---------------------------------------------------------------------------------------------------
# Style mixing (Karras et al. 2019, section 3.1): with probability style_mixing_prob, the ws from a
# uniformly drawn layer cutoff in [1, num_ws) on come from a second, fresh latent.

G_KWARGS = dict(z_dim=8, c_dim=2, w_dim=8, img_resolution=8, img_channels=3, mapping_kwargs=dict(num_layers=1),
                synthesis_kwargs=dict(channel_base=64, channel_max=8))
D_KWARGS = dict(c_dim=2, img_resolution=8, img_channels=3, channel_base=64, channel_max=8,
                mapping_kwargs=dict(num_layers=1), epilogue_kwargs=dict(mbstd_group_size=2))


def _spied_loss(monkeypatch, style_mixing_prob: float):
    """A loss on tiny networks whose mapping calls are recorded; synthesis only records its input (the
    images do not matter here, and skipping them keeps hundreds of calls fast)."""
    torch.manual_seed(0)
    G = Generator(**G_KWARGS).train().requires_grad_(False)
    D = Discriminator(**D_KWARGS).train().requires_grad_(False)
    mapping_calls, synthesis_inputs = [], []
    mapping_forward = G.mapping.forward

    def mapping(z, c, **kwargs):
        ws = mapping_forward(z, c, **kwargs)
        mapping_calls.append((z.clone(), c.clone(), ws.clone()))
        return ws

    def synthesis(ws, **kwargs):
        synthesis_inputs.append(ws.clone())
        return torch.zeros([ws.shape[0], 3, 8, 8])

    monkeypatch.setattr(G.mapping, "forward", mapping)
    monkeypatch.setattr(G.synthesis, "forward", synthesis)
    loss = StyleGAN2Loss(G, D, config=LossConfig(style_mixing_prob=style_mixing_prob))
    return G, loss, mapping_calls, synthesis_inputs


def _latents(seed: int):
    generator = torch.Generator().manual_seed(1000 + seed)
    return torch.randn([4, 8], generator=generator), torch.eye(2)[[0, 1, 1, 0]]


def test_style_mixing_with_probability_one_takes_the_tail_from_a_second_latent(monkeypatch):
    G, loss, mapping_calls, synthesis_inputs = _spied_loss(monkeypatch, 1.0)
    num_ws = G.num_ws
    assert num_ws == 4  # 8 px: b4 (conv + toRGB) and b8 (2 convs + toRGB), toRGB of b4 shared
    cutoffs, second_latents = [], []
    for seed in range(40):
        torch.manual_seed(seed)
        z, c = _latents(seed)
        mapping_calls.clear()
        synthesis_inputs.clear()
        _, ws = loss.run_G(z, c)
        assert len(mapping_calls) == 2
        (z1, c1, ws1), (z2, c2, ws2) = mapping_calls
        assert torch.equal(z1, z) and torch.equal(c1, c) and torch.equal(c2, c)
        assert z2.shape == z.shape and not torch.equal(z2, z)
        # The cutoff is where ws stops being the first latent's; it is the same for the whole batch.
        same_as_first = [torch.equal(ws[:, k], ws1[:, k]) for k in range(num_ws)]
        cutoff = same_as_first.index(False)
        assert same_as_first == [True] * cutoff + [False] * (num_ws - cutoff)
        assert 1 <= cutoff < num_ws
        assert torch.equal(ws[:, cutoff:], ws2[:, cutoff:])
        assert torch.equal(synthesis_inputs[-1], ws)  # the image is made from the mixed ws
        cutoffs.append(cutoff)
        second_latents.append(z2)
    assert set(cutoffs) == set(range(1, num_ws))  # every cutoff in [1, num_ws) occurs
    pooled = torch.cat(second_latents).flatten()  # 1280 draws of a standard normal
    assert abs(float(pooled.mean())) < 0.15 and 0.85 < float(pooled.std()) < 1.15


def test_style_mixing_with_probability_zero_never_mixes(monkeypatch):
    G, loss, mapping_calls, synthesis_inputs = _spied_loss(monkeypatch, 0.0)
    for seed in range(20):
        torch.manual_seed(seed)
        z, c = _latents(seed)
        mapping_calls.clear()
        _, ws = loss.run_G(z, c)
        assert len(mapping_calls) == 1 and torch.equal(ws, mapping_calls[0][2])


def test_style_mixing_happens_at_the_given_rate(monkeypatch):
    """p = 0.5 over 200 calls: the count of mixed calls lies within 4 binomial sigmas (7.1) of 100."""
    G, loss, mapping_calls, _ = _spied_loss(monkeypatch, 0.5)
    z, c = _latents(0)
    mixed = 0
    for seed in range(200):
        torch.manual_seed(seed)
        mapping_calls.clear()
        loss.run_G(z, c)
        mixed += len(mapping_calls) == 2
    assert abs(mixed - 100) <= 4 * np.sqrt(200 * 0.25)

