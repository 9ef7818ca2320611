"""Checkpoints: bit-exact round trip of networks and extra tensor groups, metadata, and clear errors."""

import json
import os

import pytest
import torch
from safetensors.torch import load_file, save_file

from tests.io.stand_in import TinyDiscriminator, TinyGenerator, tiny_registry
from thygan.errors import UserError
from thygan.io import checkpoint
from thygan.io.checkpoint import checkpoint_paths, load_checkpoint, save_checkpoint


def _bits(t: torch.Tensor) -> bytes:
    """The raw bytes: equal bits, so NaN payloads and -0.0 count, which torch.equal would not."""
    return t.detach().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


def _assert_same_tensors(got: dict, expected: dict) -> None:
    assert sorted(got) == sorted(expected)
    for key, t in expected.items():
        assert got[key].dtype == t.dtype and got[key].shape == t.shape, key
        assert _bits(got[key]) == _bits(t), key


@pytest.fixture
def nets():
    torch.manual_seed(0)
    G = TinyGenerator(width=6, block_kwargs=dict(bias=True))
    D = TinyDiscriminator(in_features=3, width=5)
    G_ema = TinyGenerator(width=6, block_kwargs=dict(bias=True))
    return {"G": G, "D": D, "G_ema": G_ema}


def _optimizer_state(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Adam state after one real step, flattened the way a training state would store it."""
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    net(torch.randn([2, net.fc0.weight.shape[1]])).square().sum().backward()
    opt.step()
    return {f"state.{idx}.{name}": value for idx, entry in opt.state_dict()["state"].items()
            for name, value in entry.items()}


@pytest.fixture
def extra_groups(nets):
    base = torch.randn([4, 3])
    special = torch.tensor([float("nan"), -0.0, float("inf"), 1e-45])
    return {
        "G_opt": _optimizer_state(nets["G"]),
        "rng": {"torch_cpu": torch.get_rng_state()},
        "loss": {"pl_mean": torch.tensor(0.25), "count": torch.tensor([3, -7], dtype=torch.int64)},
        "odd": {"special": special, "half": special.half(), "bf16": torch.randn([3]).bfloat16(),
                "mask": torch.tensor([True, False]), "transposed": base.t(), "shares_storage": base[1:]},
        "empty": {},
    }


def test_round_trip_is_bit_exact(tmp_path, nets, extra_groups):
    registry = tiny_registry()
    weights, meta_path = save_checkpoint(tmp_path / "snap", networks=nets, extra_tensors=extra_groups,
                                         class_names=["benign", "malignant"], training_options={"batch": 8},
                                         cur_nimg=123_456, extra={"note": "x"}, registry=registry)
    assert (weights.name, meta_path.name) == ("snap.safetensors", "snap.json")
    loaded = load_checkpoint(tmp_path / "snap", registry=registry)
    assert list(loaded.networks) == ["G", "D", "G_ema"]
    for name, net in nets.items():
        got = loaded.networks[name]
        assert type(got) is type(net) and got.init_kwargs == net.init_kwargs and not got.training
        _assert_same_tensors(got.state_dict(), net.state_dict())
        x = torch.randn([3, net.fc0.weight.shape[1]])
        assert torch.equal(got(x), net.eval()(x))
    assert list(loaded.extra_tensors) == list(extra_groups)
    for name, group in extra_groups.items():
        _assert_same_tensors(loaded.extra_tensors[name], group)
    assert loaded.class_names == ["benign", "malignant"]
    assert loaded.cur_nimg == 123_456 and loaded.meta["kimg"] == 123.456
    assert loaded.meta["training_options"] == {"batch": 8} and loaded.meta["extra"] == {"note": "x"}
    assert loaded.weights_file == weights
    assert sorted(os.listdir(tmp_path)) == ["snap.json", "snap.safetensors"]


def test_json_names_classes_and_kwargs_and_is_mirrored_in_safetensors(tmp_path, nets):
    weights, meta_path = save_checkpoint(tmp_path / "snap", networks={"D": nets["D"]},
                                         registry=tiny_registry())
    meta = json.loads(meta_path.read_text())
    assert meta["networks"] == {"D": {"class": "Discriminator", "kwargs": nets["D"].init_kwargs}}
    from safetensors import safe_open

    with safe_open(str(weights), framework="pt") as f:
        assert json.loads(f.metadata()["thygan"]) == meta
        assert sorted(f.keys()) == sorted("D." + k for k in nets["D"].state_dict())


@pytest.mark.parametrize("form", ["stem", ".safetensors", ".json"])
def test_any_of_the_three_names_loads(tmp_path, nets, form):
    save_checkpoint(tmp_path / "net", networks={"G": nets["G"]}, registry=tiny_registry())
    path = tmp_path / "net" if form == "stem" else tmp_path / f"net{form}"
    loaded = load_checkpoint(path, registry=tiny_registry())
    _assert_same_tensors(loaded.networks["G"].state_dict(), nets["G"].state_dict())


def test_lone_safetensors_describes_itself(tmp_path, nets):
    _, meta_path = save_checkpoint(tmp_path / "net", networks=nets, class_names=["a"],
                                   registry=tiny_registry())
    meta_path.unlink()
    loaded = load_checkpoint(tmp_path / "net.safetensors", registry=tiny_registry())
    assert loaded.class_names == ["a"]
    _assert_same_tensors(loaded.networks["D"].state_dict(), nets["D"].state_dict())


def test_interrupted_overwrite_never_pairs_new_weights_with_old_json(tmp_path, nets, monkeypatch):
    registry = tiny_registry()
    save_checkpoint(tmp_path / "net", networks={"G": nets["G"]}, cur_nimg=1000, registry=registry)
    wider = TinyGenerator(width=9)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint, "atomic_write_text", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(tmp_path / "net", networks={"G": wider}, cur_nimg=2000, registry=registry)
    loaded = load_checkpoint(tmp_path / "net", registry=registry)
    assert loaded.cur_nimg == 2000
    _assert_same_tensors(loaded.networks["G"].state_dict(), wider.state_dict())


def test_failed_weight_write_keeps_the_old_checkpoint(tmp_path, nets, monkeypatch):
    registry = tiny_registry()
    save_checkpoint(tmp_path / "net", networks={"G": nets["G"]}, registry=registry)
    before = {p: p.read_bytes() for p in checkpoint_paths(tmp_path / "net")}

    def failing_save(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"partial")
        raise OSError("No space left on device")

    monkeypatch.setattr(checkpoint, "save_file", failing_save)
    with pytest.raises(OSError):
        save_checkpoint(tmp_path / "net", networks={"G": TinyGenerator(width=9)}, registry=registry)
    assert {p: p.read_bytes() for p in before} == before
    assert sorted(os.listdir(tmp_path)) == ["net.json", "net.safetensors"]


def test_group_names_must_not_contain_dots_or_collide(tmp_path, nets):
    with pytest.raises(ValueError, match="a.b"):
        save_checkpoint(tmp_path / "x", networks=nets, extra_tensors={"a.b": {}}, registry=tiny_registry())
    with pytest.raises(ValueError, match="'G'"):
        save_checkpoint(tmp_path / "x", networks=nets, extra_tensors={"G": {}}, registry=tiny_registry())


def test_unregistered_class_cannot_be_saved(tmp_path):
    with pytest.raises(ValueError, match="Linear"):
        save_checkpoint(tmp_path / "x", networks={"G": torch.nn.Linear(2, 2)}, registry=tiny_registry())


# --- errors a user can cause: each a UserError naming the file ------------------------------------------

def _saved(tmp_path, nets):
    return save_checkpoint(tmp_path / "net", networks=nets, registry=tiny_registry())


def _load_error(path) -> str:
    with pytest.raises(UserError) as info:
        load_checkpoint(path, registry=tiny_registry())
    return str(info.value)


def test_missing_file(tmp_path):
    message = _load_error(tmp_path / "nothing")
    assert message.startswith(f"{tmp_path / 'nothing.safetensors'}: no such file")


def test_json_without_weights(tmp_path, nets):
    weights, meta_path = _saved(tmp_path, nets)
    weights.unlink()
    assert _load_error(meta_path).startswith(f"{weights}: no such file")


def test_unknown_class(tmp_path, nets):
    _, meta_path = _saved(tmp_path, nets)
    meta = json.loads(meta_path.read_text())
    meta["networks"]["D"]["class"] = "StyleGAN9"
    meta_path.write_text(json.dumps(meta))
    message = _load_error(meta_path)
    assert message.startswith(f"{meta_path}: D:") and "StyleGAN9" in message and "Generator" in message


def test_kwargs_the_class_rejects(tmp_path, nets):
    _, meta_path = _saved(tmp_path, nets)
    meta = json.loads(meta_path.read_text())
    meta["networks"]["G"]["kwargs"]["depth"] = 3
    meta_path.write_text(json.dumps(meta))
    message = _load_error(meta_path)
    assert message.startswith(f"{meta_path}: G:") and "depth" in message


@pytest.mark.parametrize("keep_json", [True, False])
def test_truncated_weights(tmp_path, nets, keep_json):
    weights, meta_path = _saved(tmp_path, nets)
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    if not keep_json:
        meta_path.unlink()
    message = _load_error(weights)
    assert message.startswith(f"{weights}: not a readable safetensors file")


def test_corrupt_json(tmp_path, nets):
    _, meta_path = _saved(tmp_path, nets)
    meta_path.write_text('{"format": "thygan-checkpoint", ')
    assert _load_error(meta_path).startswith(f"{meta_path}: not valid JSON")


def test_json_of_something_else(tmp_path, nets):
    _, meta_path = _saved(tmp_path, nets)
    meta_path.write_text('{"labels": []}')
    assert _load_error(meta_path).startswith(f"{meta_path}: expected thygan checkpoint metadata")


def test_newer_format_version(tmp_path, nets):
    _, meta_path = _saved(tmp_path, nets)
    meta = json.loads(meta_path.read_text())
    meta["format_version"] = 99
    meta_path.write_text(json.dumps(meta))
    assert "format_version 99 is not supported" in _load_error(meta_path)


def test_safetensors_from_elsewhere(tmp_path):
    weights = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(weights))
    message = _load_error(weights)
    assert message.startswith(f"{weights}: no 'thygan' metadata")


def _rewrite_weights(weights, edit) -> None:
    from safetensors import safe_open

    with safe_open(str(weights), framework="pt") as f:
        metadata = f.metadata()
    tensors = load_file(str(weights))
    edit(tensors)
    save_file(tensors, str(weights), metadata=metadata)


def test_missing_tensor(tmp_path, nets):
    weights, _ = _saved(tmp_path, nets)
    _rewrite_weights(weights, lambda t: t.pop("G_ema.block.affine.weight"))
    message = _load_error(weights)
    assert message.startswith(f"{weights}: G_ema: missing tensor 'block.affine.weight'")


def test_wrong_shape(tmp_path, nets):
    weights, _ = _saved(tmp_path, nets)
    _rewrite_weights(weights, lambda t: t.update({"D.w_avg": torch.zeros([7])}))
    message = _load_error(weights)
    assert message.startswith(f"{weights}: D: tensor 'w_avg' is [7] float32, expected [5] float32")


def test_wrong_dtype(tmp_path, nets):
    weights, _ = _saved(tmp_path, nets)
    _rewrite_weights(weights, lambda t: t.update({"D.w_avg": t["D.w_avg"].double()}))
    assert "tensor 'w_avg' is [5] float64, expected [5] float32" in _load_error(weights)


def test_tensor_of_no_group(tmp_path, nets):
    weights, _ = _saved(tmp_path, nets)
    _rewrite_weights(weights, lambda t: t.update({"stray.x": torch.zeros(1)}))
    assert _load_error(weights).startswith(f"{weights}: unexpected tensor 'stray.x'")


def test_extra_entry_in_a_network(tmp_path, nets):
    weights, _ = _saved(tmp_path, nets)
    _rewrite_weights(weights, lambda t: t.update({"G.fc9.weight": torch.zeros(1)}))
    assert _load_error(weights).startswith(f"{weights}: G: unexpected tensor 'fc9.weight'")


def test_tensor_only_checkpoint_needs_no_registry(tmp_path, monkeypatch):
    """Training states hold only extra groups; saving and loading them must not import any networks."""
    def no_registry():
        raise AssertionError("registry resolved for a checkpoint without networks")

    monkeypatch.setattr(checkpoint, "default_registry", no_registry)
    group = {"state.0.exp_avg": torch.randn([3, 2])}
    save_checkpoint(tmp_path / "state", networks={}, extra_tensors={"G_opt": group}, cur_nimg=4000)
    loaded = load_checkpoint(tmp_path / "state")
    assert loaded.networks == {} and loaded.cur_nimg == 4000
    _assert_same_tensors(loaded.extra_tensors["G_opt"], group)


def test_real_networks_round_trip_with_the_default_registry(tmp_path):
    from thygan.stylegan.networks import Discriminator, Generator

    torch.manual_seed(4)
    G = Generator(z_dim=8, c_dim=2, w_dim=8, img_resolution=8, img_channels=3,
                  mapping_kwargs=dict(num_layers=1),
                  synthesis_kwargs=dict(channel_base=64, channel_max=8)).eval()
    D = Discriminator(c_dim=2, img_resolution=8, img_channels=3, channel_base=64, channel_max=8,
                      epilogue_kwargs=dict(mbstd_group_size=2)).eval()
    save_checkpoint(tmp_path / "real", networks={"G_ema": G, "D": D}, class_names=["x", "y"])
    loaded = load_checkpoint(tmp_path / "real.json")
    for name, net in {"G_ema": G, "D": D}.items():
        got = loaded.networks[name]
        assert type(got) is type(net) and got.init_kwargs == net.init_kwargs
        _assert_same_tensors(loaded.networks[name].state_dict(), net.state_dict())
    z, c = torch.randn([2, 8]), torch.eye(2)
    with torch.no_grad():
        assert torch.equal(loaded.networks["G_ema"](z, c, noise_mode="const"), G(z, c, noise_mode="const"))


def test_files_get_the_usual_permissions(tmp_path, nets):
    """Checkpoints are shared between users of a run folder: no private 0600 files."""
    import stat

    plain = tmp_path / "plain"
    plain.write_bytes(b"")
    weights, meta_path = _saved(tmp_path, nets)
    for path in (weights, meta_path):
        assert stat.S_IMODE(path.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode), path.name
