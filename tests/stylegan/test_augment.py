"""ADA pipeline: each transformation against an independent computation, gradients, non-leaking statistics."""

import json

import numpy as np
import pytest
import scipy.ndimage
import scipy.stats
import torch

from tests.torch_utils.host_sync import HostSyncError, no_host_sync
from thygan.errors import UserError
from thygan.stylegan.augment import AUGPIPE_SPECS, AugmentPipe, build_augment_pipe


@pytest.fixture(autouse=True)
def _one_thread(single_thread):
    """The augmentation tests run on one thread (see tests/conftest.py)."""


def make_pipe(p: float = 1.0, **kwargs) -> AugmentPipe:
    pipe = AugmentPipe(**kwargs)
    pipe.p.copy_(torch.tensor(p))
    return pipe


def random_images(n: int, c: int = 3, h: int = 16, w: int = 16, seed: int = 0) -> torch.Tensor:
    return torch.rand([n, c, h, w], generator=torch.Generator().manual_seed(seed)) * 2 - 1


def constant_colours(colour, n: int, size: int = 4) -> torch.Tensor:
    return torch.tensor(colour, dtype=torch.float32)[None, :, None, None].expand(n, 3, size, size).clone()


def centred_grid(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(x, y) of pixel centres, origin at the image centre."""
    centre = (size - 1) / 2
    y, x = torch.meshgrid(torch.arange(size) - centre, torch.arange(size) - centre, indexing="ij")
    return x.double(), y.double()


# ---- registry and contract -------------------------------------------------------------------------

def test_specs_match_reference_groups():
    blit, geom = {"xflip", "rotate90", "xint"}, {"scale", "rotate", "aniso", "xfrac"}
    color = {"brightness", "contrast", "lumaflip", "hue", "saturation"}
    bgc = blit | geom | color
    expected = {"blit": blit, "geom": geom, "color": color, "filter": {"imgfilter"}, "noise": {"noise"},
                "cutout": {"cutout"}, "bg": blit | geom, "bgc": bgc, "bgcf": bgc | {"imgfilter"},
                "bgcfn": bgc | {"imgfilter", "noise"}, "bgcfnc": bgc | {"imgfilter", "noise", "cutout"}}
    assert {name: set(spec) for name, spec in AUGPIPE_SPECS.items()} == expected
    assert all(value == 1 for spec in AUGPIPE_SPECS.values() for value in spec.values())


@pytest.mark.parametrize("name", list(AUGPIPE_SPECS))
def test_every_pipe_keeps_shape_and_stays_finite(name):
    pipe = build_augment_pipe(name)
    assert pipe.p.dtype == torch.float32 and pipe.p.shape == () and float(pipe.p) == 0
    pipe.p.fill_(1)
    x = random_images(6)
    torch.manual_seed(0)
    y = pipe(x)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert torch.isfinite(y).all()
    assert y.abs().max() < 20  # colour and filter gains are log-normal: large but not explosive
    assert not torch.equal(y, x)


def test_unknown_pipe_is_a_user_error():
    with pytest.raises(UserError, match="^--augpipe: expected one of blit, geom"):
        build_augment_pipe("bgcx")


def test_init_kwargs_rebuild_the_same_module():
    pipe = build_augment_pipe("bgcfnc")
    pipe.p.fill_(0.3)
    kwargs = json.loads(json.dumps(pipe.init_kwargs))  # checkpoints store them as JSON
    assert kwargs["xint_max"] == 0.125 and kwargs["imgfilter_bands"] == [1, 1, 1, 1] and kwargs["cutout"] == 1
    clone = AugmentPipe(**kwargs)
    assert set(clone.state_dict()) == {"p", "Hz_geom", "Hz_fbank"}
    clone.load_state_dict(pipe.state_dict(), strict=True)
    for key, value in pipe.state_dict().items():
        assert torch.equal(clone.state_dict()[key], value)


@pytest.mark.parametrize("name", list(AUGPIPE_SPECS))
def test_p_zero_is_the_identity(name):
    x = random_images(4)
    assert torch.equal(build_augment_pipe(name)(x), x)


# ---- filters --------------------------------------------------------------------------------------

def test_geometry_filter_is_an_orthonormal_wavelet_with_six_vanishing_moments():
    h = build_augment_pipe("bg").Hz_geom.double().numpy() * np.sqrt(2)  # the buffer is normalised to sum 1
    assert h.shape == (12,)
    for shift in range(0, 12, 2):  # orthonormal to its own even shifts
        dot = sum(h[i] * h[i + shift] for i in range(12 - shift))
        assert dot == pytest.approx(1.0 if shift == 0 else 0.0, abs=1e-6)
    g = h * (-1.0) ** np.arange(12)  # the matching high-pass annihilates polynomials of degree < 6
    for k in range(6):
        assert sum(g[n] * n**k for n in range(12)) == pytest.approx(0, abs=1e-6 * 12**k)


def test_octave_bank_splits_the_spectrum():
    bank = build_augment_pipe("filter").Hz_fbank.double().numpy()
    taps = bank.shape[1]
    impulse = np.zeros(taps)
    impulse[taps // 2] = 1
    np.testing.assert_allclose(bank.sum(0), impulse, atol=1e-6)  # unit gains change nothing
    np.testing.assert_allclose(bank, bank[:, ::-1], atol=1e-7)     # zero phase
    n = np.arange(taps) - taps // 2

    def response(omega):
        return np.array([np.sum(row * np.cos(omega * n)) for row in bank])

    # Each band dominates in the middle of its octave: [0, pi/8], [pi/8, pi/4], [pi/4, pi/2], [pi/2, pi].
    for band, omega in enumerate([0.0, 3 * np.pi / 16, 3 * np.pi / 8, 7 * np.pi / 8]):
        gains = response(omega)
        assert gains[band] > 0.7
        assert np.delete(np.abs(gains), band).max() < 0.25
    np.testing.assert_allclose(response(np.pi), [0, 0, 0, 1], atol=1e-6)


# ---- geometry -------------------------------------------------------------------------------------

def test_xflip_mirrors_about_half_the_images():
    x = random_images(64)
    torch.manual_seed(1)
    y = make_pipe(xflip=1)(x)
    same = (y - x).abs().amax(dim=(1, 2, 3)) < 1e-6
    mirrored = (y - x.flip(3)).abs().amax(dim=(1, 2, 3)) < 1e-6
    assert (same | mirrored).all()
    assert 20 <= int(mirrored.sum()) <= 44


def test_rotate90_gives_exact_quarter_turns():
    x = random_images(64)
    torch.manual_seed(2)
    y = make_pipe(rotate90=1)(x)
    turns = []
    for i in range(len(x)):
        matches = [k for k in range(4) if (y[i] - torch.rot90(x[i], k, dims=(1, 2))).abs().max() < 1e-6]
        assert len(matches) == 1
        turns.append(matches[0])
    assert set(turns) == {0, 1, 2, 3}


def test_dihedral_output_follows_the_sampled_matrix():
    """Naive per-pixel check: output pixel q shows input pixel G_inv q (flip and quarter turn)."""
    pipe = make_pipe(xflip=1, rotate90=1)
    x = random_images(8, h=6, w=6)
    torch.manual_seed(3)
    dihedral, affine = pipe.sample_geometry(8, 6, 6)
    torch.manual_seed(3)
    y = pipe(x)
    assert torch.equal(affine, torch.eye(3).expand(8, 3, 3))
    for i in range(8):
        G = dihedral[i].double().numpy()
        for row in range(6):
            for col in range(6):
                sx, sy, _ = G @ np.array([col - 2.5, row - 2.5, 1])
                src_row, src_col = int(round(sy + 2.5)), int(round(sx + 2.5))
                assert torch.equal(y[i, :, row, col], x[i, :, src_row, src_col])


def test_integer_translation_is_exact_with_reflected_borders():
    size, n = 16, 32
    pipe = make_pipe(xint=1)
    x = random_images(n, h=size, w=size)
    torch.manual_seed(4)
    _, affine = pipe.sample_geometry(n, size, size)
    torch.manual_seed(4)
    y = pipe(x)
    padded = np.pad(x.numpy(), [(0, 0), (0, 0), (2, 2), (2, 2)], mode="reflect")  # xint_max 0.125 -> 2 px
    shifts = set()
    for i in range(n):
        dx, dy = affine[i, 0, 2].item(), affine[i, 1, 2].item()  # output q shows input q + (dx, dy)
        assert dx == int(dx) and dy == int(dy) and abs(dx) <= 2 and abs(dy) <= 2
        shifts.add((dx, dy))
        expected = padded[i, :, 2 + int(dy):2 + int(dy) + size, 2 + int(dx):2 + int(dx) + size]
        np.testing.assert_allclose(y[i].numpy(), expected, atol=2e-5)
    assert len(shifts) >= 8


def test_geometric_warp_matches_the_analytic_image():
    """All geometric transforms at once on a smooth blob: the output equals the blob evaluated at G_inv q.

    The input is mirror-padded, so the analytic image is folded back at the borders the same way.
    """
    size, n, sigma = 32, 24, 3.0
    edge = (size - 1) / 2

    def fold(t):
        return torch.where(t > edge, 2 * edge - t, torch.where(t < -edge, -2 * edge - t, t))

    def blob(x, y):  # off-centre, so that a wrong rotation or flip shows
        return torch.exp(-((fold(x) - 3) ** 2 + (fold(y) + 2) ** 2) / (2 * sigma**2))

    x, y = centred_grid(size)
    image = blob(x, y).float()[None, None].expand(n, 3, size, size)
    pipe = make_pipe(**AUGPIPE_SPECS["bg"])
    torch.manual_seed(5)
    dihedral, affine = pipe.sample_geometry(n, size, size)
    torch.manual_seed(5)
    out = pipe(image)
    G = (dihedral @ affine).double()
    src = G[:, :2, :] @ torch.stack([x.flatten(), y.flatten(), torch.ones(size * size, dtype=torch.float64)])
    expected = blob(src[:, 0], src[:, 1]).reshape(n, 1, size, size)
    assert (out.double() - expected).abs().max() < 0.02  # a misplaced or mis-rotated blob errs by ~1
    assert (G - torch.eye(3, dtype=torch.float64)).abs().amax(dim=(1, 2)).min() > 0  # every image moved


def test_non_square_images_are_resampled_through_the_matrix():
    x, y = centred_grid(24)
    smooth = torch.exp(-((x[:12] - 4) ** 2 + y[:12] ** 2) / 32).float()[None, None].expand(16, 1, 12, 24)
    torch.manual_seed(6)
    out = make_pipe(xflip=1)(smooth)
    # Not exact: mirrored, the asymmetric wavelet no longer cancels itself; a wrong mirror errs by ~0.9.
    same = (out - smooth).abs().amax(dim=(1, 2, 3)) < 0.03
    mirrored = (out - smooth.flip(3)).abs().amax(dim=(1, 2, 3)) < 0.03
    assert (same | mirrored).all() and mirrored.any() and not mirrored.all()


# ---- non-leaking statistics -----------------------------------------------------------------------

def test_rotation_angle_is_uniform_at_full_strength():
    """p = 1: pre- and post-rotation both happen; their sum must cover the circle uniformly."""
    torch.manual_seed(7)
    _, affine = make_pipe(rotate=1).sample_geometry(4000, 16, 16)
    angle = torch.atan2(affine[:, 1, 0], affine[:, 0, 0]).double()
    assert abs(angle.cos().mean()) < 0.05 and abs(angle.sin().mean()) < 0.05
    assert abs((2 * angle).cos().mean()) < 0.05
    assert scipy.stats.kstest(angle.numpy(), scipy.stats.uniform(-np.pi, 2 * np.pi).cdf).pvalue > 1e-3


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_some_rotation_happens_with_probability_p(p):
    torch.manual_seed(8)
    _, affine = make_pipe(p, rotate=1).sample_geometry(4000, 16, 16)
    rotated = (affine[:, 0, 1] != 0).double().mean().item()
    assert rotated == pytest.approx(p, abs=0.03)


def test_augmented_images_have_no_preferred_orientation():
    """An off-centre blob, rotated by the pipeline: the angle of its centroid is uniform."""
    size, n = 24, 256
    x, y = centred_grid(size)
    image = torch.exp(-((x - 5) ** 2 + y**2) / 4).float()[None, None].expand(n, 1, size, size)
    torch.manual_seed(9)
    out = make_pipe(rotate=1)(image).double()
    weight = out[:, 0].clamp(min=0) * (x.square() + y.square() < 81)  # not the mirrored copies in the corners
    angle = torch.atan2((weight * y).sum((1, 2)), (weight * x).sum((1, 2)))
    assert abs(angle.cos().mean()) < 0.15 and abs(angle.sin().mean()) < 0.15
    radius = ((weight * x).sum((1, 2)) ** 2 + (weight * y).sum((1, 2)) ** 2).sqrt() / weight.sum((1, 2))
    assert ((radius - 5).abs() < 0.3).all()  # rotated about the centre, not moved


# ---- colour ---------------------------------------------------------------------------------------

def test_brightness_adds_one_offset_per_image():
    x = constant_colours([0.5, 0.2, -0.1], 2000)
    torch.manual_seed(10)
    offset = make_pipe(brightness=1)(x) - x
    per_image = offset[:, 0, 0, 0]
    assert (offset - per_image[:, None, None, None]).abs().max() < 1e-6
    assert per_image.std().item() == pytest.approx(0.2, rel=0.1)
    assert abs(per_image.mean().item()) < 0.02


def test_contrast_scales_about_mid_grey():
    x = constant_colours([0.5, 0.2, -0.1], 2000)
    torch.manual_seed(11)
    ratio = make_pipe(contrast=1)(x) / x
    per_image = ratio[:, 0, 0, 0]
    assert (ratio - per_image[:, None, None, None]).abs().max() < 1e-5
    assert per_image.log2().std().item() == pytest.approx(0.5, rel=0.1)


def test_contrast_on_grey_images():
    x = torch.full([500, 1, 4, 4], 0.4)
    torch.manual_seed(12)
    ratio = make_pipe(contrast=1)(x) / x
    assert (ratio - ratio[:, :, :1, :1]).abs().max() < 1e-5
    assert ratio[:, 0, 0, 0].log2().std().item() == pytest.approx(0.5, rel=0.15)


def test_saturation_scales_the_distance_from_grey():
    colour = torch.tensor([0.6, 0.1, -0.2])
    grey = colour.mean()
    x = constant_colours(colour.tolist(), 2000)
    torch.manual_seed(13)
    out = make_pipe(saturation=1)(x)[:, :, 0, 0]
    assert (out.mean(1) - grey).abs().max() < 1e-5
    s = (out - grey) / (colour - grey)  # hand formula: grey + s (colour - grey), s the same for R, G, B
    assert (s - s[:, :1]).abs().max() < 1e-4
    assert s[:, 0].log2().std().item() == pytest.approx(1.0, rel=0.1)


def test_luma_flip_reflects_across_the_grey_axis():
    x = constant_colours([0.5, 0.2, -0.1], 200)
    torch.manual_seed(14)
    out = make_pipe(lumaflip=1)(x)[:, :, 0, 0]
    flipped = torch.tensor([0.1, -0.2, -0.5])  # colour - 2 * mean(colour), by hand
    is_same = (out - x[:, :, 0, 0]).abs().amax(1) < 1e-6
    is_flipped = (out - flipped).abs().amax(1) < 1e-6
    assert (is_same | is_flipped).all() and 60 <= int(is_flipped.sum()) <= 140


def test_luma_flip_twice_is_the_identity():
    pipe = make_pipe(lumaflip=1)
    x = random_images(32)
    torch.manual_seed(15)
    once = pipe(x)
    torch.manual_seed(15)
    twice = pipe(once)
    assert not torch.allclose(once, x)
    torch.testing.assert_close(twice, x, atol=1e-5, rtol=0)


def test_hue_rotates_chroma_about_the_grey_axis_uniformly():
    colour = torch.tensor([0.5, 0.2, -0.1])
    x = constant_colours(colour.tolist(), 2000)
    torch.manual_seed(16)
    out = make_pipe(hue=1)(x)[:, :, 0, 0].double()
    chroma_in = (colour - colour.mean()).double()
    chroma_out = out - out.mean(1, keepdim=True)
    assert (out.mean(1) - colour.mean()).abs().max() < 1e-5
    assert (chroma_out.norm(dim=1) - chroma_in.norm()).abs().max() < 1e-5
    axis = torch.ones(3, dtype=torch.float64) / np.sqrt(3)
    cos = chroma_out @ chroma_in / chroma_in.norm() ** 2
    sin = chroma_out @ torch.linalg.cross(axis, chroma_in) / chroma_in.norm() ** 2
    angle = torch.atan2(sin, cos)
    assert abs(angle.cos().mean()) < 0.05 and abs(angle.sin().mean()) < 0.05


def test_colour_matrix_is_applied_per_pixel():
    pipe = make_pipe(**AUGPIPE_SPECS["color"])
    x = random_images(8, h=3, w=3)
    torch.manual_seed(17)
    C = pipe.sample_color(8, 3).double().numpy()
    torch.manual_seed(17)
    y = pipe(x)
    for i in range(8):
        for row in range(3):
            for col in range(3):
                rgb1 = np.append(x[i, :, row, col].double().numpy(), 1)
                np.testing.assert_allclose(y[i, :, row, col].numpy(), (C[i] @ rgb1)[:3], atol=1e-5)


# ---- filtering, noise, cutout ---------------------------------------------------------------------

def test_image_filter_matches_scipy_separable_convolution():
    pipe = make_pipe(imgfilter=1)
    x = random_images(4, h=12, w=12)  # smaller than the 43-tap filter: the mirror repeats
    torch.manual_seed(18)
    gains = pipe.sample_filter_gains(4)
    torch.manual_seed(18)
    y = pipe(x)
    filters = (gains.double() @ pipe.Hz_fbank.double()).numpy()
    for i in range(4):
        expected = scipy.ndimage.convolve1d(x[i].double().numpy(), filters[i], axis=2, mode="mirror")
        expected = scipy.ndimage.convolve1d(expected, filters[i], axis=1, mode="mirror")
        np.testing.assert_allclose(y[i].numpy(), expected, atol=1e-5)


def test_single_band_gain_preserves_expected_power():
    torch.manual_seed(19)
    gains = make_pipe(imgfilter=1, imgfilter_bands=[0, 0, 0, 1]).sample_filter_gains(500).double()
    assert (gains[:, :3] - gains[:, :1]).abs().max() < 1e-6
    power = (gains.square() * torch.tensor([10, 1, 1, 1], dtype=torch.float64) / 13).sum(1)
    torch.testing.assert_close(power, torch.ones_like(power), atol=1e-6, rtol=0)  # float32 gains
    assert gains[:, 3].div(gains[:, 0]).log2().std().item() == pytest.approx(1.0, rel=0.15)


def test_noise_is_gaussian_with_half_normal_strength():
    x = random_images(256, h=8, w=8)
    torch.manual_seed(20)
    residual = (make_pipe(noise=1)(x) - x).double()
    sigma = residual.std(dim=(1, 2, 3))
    assert sigma.mean().item() == pytest.approx(0.1 * np.sqrt(2 / np.pi), rel=0.15)  # E|N(0, 0.1)|
    assert abs(residual.mean().item()) < 0.005


def test_cutout_zeroes_one_axis_aligned_square():
    size = 16
    x = random_images(64, h=size, w=size) * 0.25 + 0.75  # no zeros in the input
    torch.manual_seed(21)
    y = make_pipe(cutout=1)(x)
    for i in range(64):
        zero = (y[i] == 0).all(0)
        assert torch.equal(y[i][:, ~zero], x[i][:, ~zero])
        rows, cols = zero.any(1).nonzero().flatten(), zero.any(0).nonzero().flatten()
        assert zero.sum() == len(rows) * len(cols)  # a rectangle
        for run in (rows, cols):  # contiguous, at most half the side, at least a quarter
            assert run[-1] - run[0] + 1 == len(run) and size // 4 <= len(run) <= size // 2


# ---- gradients ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, shape", [("bg", (2, 1, 6, 6)), ("bgcfnc", (1, 3, 4, 4))])
def test_gradients_reach_the_input_twice(name, shape):
    """R1 differentiates D's gradient w.r.t. its (augmented) input once more: double backward."""
    pipe = build_augment_pipe(name)
    pipe.p.fill_(1)
    x = random_images(*shape).double().requires_grad_(True)

    def augment(images):
        torch.manual_seed(22)  # the same transforms at every evaluation
        return pipe(images)

    assert torch.autograd.gradcheck(augment, (x,))
    assert torch.autograd.gradgradcheck(augment, (x,))


def test_augmentation_follows_the_global_seed():
    pipe = build_augment_pipe("bgcfnc")
    pipe.p.fill_(0.5)
    x = random_images(8)
    torch.manual_seed(23)
    first = pipe(x)
    torch.manual_seed(23)
    assert torch.equal(pipe(x), first)
    assert not torch.equal(pipe(x), first)


def test_p_above_one_behaves_like_one():
    pipe = make_pipe(1.7, **AUGPIPE_SPECS["bgc"])  # ADA does not clamp p from above
    torch.manual_seed(24)
    y = pipe(random_images(8))
    assert torch.isfinite(y).all()
    torch.manual_seed(24)
    _, affine = pipe.sample_geometry(500, 16, 16)
    assert (affine[:, 0, 1] != 0).all()  # every image rotated, as at p = 1


# ---- no host-device synchronisation ---------------------------------------------------------------

@pytest.mark.parametrize("name", ["bgc", "bgcfnc"])
def test_forward_and_backward_never_wait_for_the_device(name):
    """On ``meta`` (a stand-in for a GPU: the host cannot read its values) every read fails."""
    pipe = build_augment_pipe(name).to("meta")
    pipe.set_p(0.6)
    x = torch.zeros([8, 3, 32, 32], device="meta", requires_grad=True)
    with no_host_sync() as seen:
        y = pipe(x)
        (grad,) = torch.autograd.grad(y.square().sum(), x, create_graph=True)  # as R1 does
        grad.square().sum().backward()
    assert y.shape == x.shape and x.grad.shape == x.shape
    assert {"grid_sampler_2d", "grid_sampler_2d_backward", "index_select"} <= {op.split(".")[0] for op in seen}


def test_p_is_read_from_the_buffer_only_after_a_write():
    pipe = build_augment_pipe("bgc").to("meta")
    pipe.set_p(0.3)
    with no_host_sync():
        assert pipe.p_value() == float(np.float32(0.3))
    pipe.p.fill_(0.5)  # a write the mirror has not seen: the next read goes to the buffer
    with pytest.raises(HostSyncError), no_host_sync():
        pipe.p_value()


def test_p_value_follows_every_way_of_writing_p():
    pipe = build_augment_pipe("bgc")
    assert pipe.p_value() == 0
    pipe.p.fill_(0.25)
    assert pipe.p_value() == 0.25
    pipe.p.copy_(torch.tensor(0.5))
    assert pipe.p_value() == 0.5
    other = build_augment_pipe("bgc")
    other.p.fill_(0.75)
    pipe.load_state_dict(other.state_dict())
    assert pipe.p_value() == 0.75
    pipe.set_p(0.125)
    assert float(pipe.p) == pipe.p_value() == 0.125
    pipe.double().p.fill_(0.3)  # .double() replaces the buffer
    assert pipe.p_value() == 0.3 and pipe.p.dtype == torch.float64


@pytest.mark.gpu
def test_forward_and_backward_never_synchronise_on_cuda():
    from torch_utils.training_stats import StatsAccumulator

    pipe = build_augment_pipe("bgc")
    pipe.set_p(0.6)
    x = random_images(8, h=32, w=32)
    torch.manual_seed(25)
    expected = pipe(x)
    pipe.cuda()
    x_cuda = x.cuda().requires_grad_(True)
    stats = StatsAccumulator(x_cuda.device)

    def step():
        torch.manual_seed(25)
        y = pipe(x_cuda)
        (grad,) = torch.autograd.grad(y.square().sum(), x_cuda, create_graph=True)
        grad.square().sum().backward()
        stats.add("y", y.detach())
        return y

    warm = step()  # lazy CUDA initialisation, and the one read of p after the move, happen here
    # The per-image parameters come from the CPU generator: the same transforms as on the CPU.
    torch.testing.assert_close(warm.detach().cpu(), expected, atol=5e-3, rtol=0)  # cudnn may use TF32
    torch.cuda.set_sync_debug_mode("error")
    try:
        step()
    finally:
        torch.cuda.set_sync_debug_mode("default")
