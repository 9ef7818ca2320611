"""Reference snapshot import: weights land exactly, embedded code never runs, hostile globals are refused."""

import pickle
import pickletools
import sys

import pytest
import torch

from tests.io.reference_snapshot import (
    PAYLOAD_MARKER,
    PAYLOAD_SOURCE,
    augment_pipe_record,
    global_call_pickle,
    record,
    snapshot_bytes,
    write_snapshot,
)
from tests.io.stand_in import TinyDiscriminator, TinyGenerator, tiny_registry
from thygan.errors import UserError
from thygan.io.reference_pickle import (
    flatten_record,
    load_reference_pickle,
    read_snapshot_tree,
    snapshot_kimg,
)

# The globals stylegan2_ada_pkl.md lists for a real snapshot (numpy's module name depends on its version).
REFERENCE_GLOBALS = {"torch_utils.persistence _reconstruct_persistent_obj", "dnnlib.util EasyDict",
                     "collections OrderedDict", "torch._utils _rebuild_tensor_v2",
                     "torch._utils _rebuild_parameter", "torch.storage _load_from_bytes", "numpy dtype"}


def _globals(data: bytes) -> set[str]:
    """Every global a pickle asks for, from its opcodes: GLOBAL's argument, or the two strings before
    STACK_GLOBAL (literal or fetched from the memo, which protocol 4 uses for repeated module names)."""
    found, memo, recent = set(), {}, []
    for op, arg, _ in pickletools.genops(data):
        if op.name in ("GLOBAL", "STACK_GLOBAL"):
            found.add(arg if op.name == "GLOBAL" else f"{recent[-2]} {recent[-1]}")
            recent.append(None)  # the global object itself
        elif op.name == "MEMOIZE":
            memo[len(memo)] = recent[-1] if recent else None
        elif op.name in ("BINPUT", "LONG_BINPUT"):
            memo[arg] = recent[-1] if recent else None
        elif op.name in ("BINGET", "LONG_BINGET"):
            recent.append(memo.get(arg))
        elif op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE"):
            recent.append(arg)
        elif op.name != "FRAME":
            recent.append(None)
    return found


@pytest.fixture
def nets():
    torch.manual_seed(1)
    return {"G": TinyGenerator(block_kwargs=dict(bias=True)), "D": TinyDiscriminator(in_features=3, width=5),
            "G_ema": TinyGenerator(block_kwargs=dict(bias=True))}


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    """Run in an empty folder so the payload, were it ever executed, would leave PWNED right here."""
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize("protocol", [3, 4])
def test_snapshot_builder_is_realistic(nets, protocol):
    data = snapshot_bytes(**nets, augment_pipe=augment_pipe_record(), protocol=protocol)
    found = _globals(data)
    numpy_scalar = {g for g in found if g.endswith(" scalar")}
    assert numpy_scalar <= {"numpy.core.multiarray scalar", "numpy._core.multiarray scalar"} and numpy_scalar
    assert found - numpy_scalar - {"builtins set"} == REFERENCE_GLOBALS
    assert PAYLOAD_SOURCE.encode() in data
    assert "dnnlib.util" not in sys.modules and "torch_utils.persistence" not in sys.modules


@pytest.mark.parametrize("protocol", [3, 4])
def test_weights_land_exactly_and_nothing_runs(tmp_path, nets, protocol):
    pipe = augment_pipe_record(p=0.375)
    path = write_snapshot(tmp_path / "network-snapshot-000400.pkl", **nets, augment_pipe=pipe,
                          protocol=protocol,
                          training_set_kwargs=dict(path="tiles.zip", use_labels=True, resolution=64))
    loaded = load_reference_pickle(path, registry=tiny_registry())
    assert list(loaded.networks) == ["G", "D", "G_ema"]
    for name, net in nets.items():
        got = loaded.networks[name]
        assert type(got) is type(net) and got.init_kwargs == net.init_kwargs
        expected = net.state_dict()
        assert list(got.state_dict()) == list(expected)
        for key, value in got.state_dict().items():
            assert value.dtype == expected[key].dtype and torch.equal(value, expected[key]), key
    pipe_state = pipe.meta["state"]["_buffers"]
    assert sorted(loaded.extra_tensors["augment_pipe"]) == sorted(pipe_state)
    for key, value in pipe_state.items():
        assert torch.equal(loaded.extra_tensors["augment_pipe"][key], value)
    extra = loaded.meta["extra"]
    assert extra["augment_pipe"] == {"class": "AugmentPipe", "kwargs": {"xflip": 1, "rotate90": 1, "xint": 1}}
    assert type(extra["training_set_kwargs"]) is dict  # EasyDict came back as a plain dict
    assert extra["training_set_kwargs"] == {"path": "tiles.zip", "use_labels": True, "resolution": 64}
    assert loaded.meta["kimg"] == 400 and loaded.cur_nimg == 400_000
    assert loaded.weights_file == path
    assert not (tmp_path / PAYLOAD_MARKER).exists()


def test_records_flatten_in_state_dict_order(tmp_path, nets):
    """None parameters and non-persistent buffers are skipped, nested modules give dotted names."""
    tree = read_snapshot_tree(write_snapshot(tmp_path / "s.pkl", G=nets["G"]))
    flat = flatten_record(tree["G"], source=tmp_path / "s.pkl")
    assert list(flat) == list(nets["G"].state_dict())
    assert "scratch" not in flat and "block.noise_const" in flat
    assert type(tree["G"].state["_modules"]["fc0"].state["weight_gain"]).__name__ == "float64"


def test_older_snapshot_without_pipe_or_dataset_kwargs(tmp_path, nets):
    from tests.io.reference_snapshot import module_record, reference_modules

    data = {"G": module_record(nets["G"], class_name="Generator")}
    with reference_modules():
        (tmp_path / "old.pkl").write_bytes(pickle.dumps(data, protocol=3))
    loaded = load_reference_pickle(tmp_path / "old.pkl", registry=tiny_registry())
    assert list(loaded.networks) == ["G"] and loaded.extra_tensors == {}
    assert loaded.meta["kimg"] is None and "augment_pipe" not in loaded.meta["extra"]


def test_snapshot_kimg_parses_only_reference_names():
    assert snapshot_kimg("runs/00003/network-snapshot-017539.pkl") == 17539
    assert snapshot_kimg("ffhq.pkl") is None


# --- refusals ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("protocol", [3, 4])
@pytest.mark.parametrize("module,name", [("os", "system"), ("posix", "system"), ("builtins", "eval"),
                                         ("subprocess", "Popen"), ("builtins", "exec")])
def test_hostile_globals_are_refused_by_name(tmp_path, module, name, protocol):
    data = global_call_pickle(module, name, f"touch {PAYLOAD_MARKER}", protocol=protocol)
    assert _globals(data) == {f"{module} {name}"}  # a well-formed pickle that would call it
    path = tmp_path / "evil.pkl"
    path.write_bytes(data)
    with pytest.raises(UserError) as info:
        load_reference_pickle(path, registry=tiny_registry())
    assert str(info.value).startswith(f"{path}: refusing to load global {module}.{name}: ")
    assert not (tmp_path / PAYLOAD_MARKER).exists()


class _Hostile:
    def __reduce__(self):
        import os

        return (os.system, (f"touch {PAYLOAD_MARKER}",))


@pytest.mark.parametrize("where", ["top", "module_attribute"])
def test_hostile_object_inside_a_realistic_snapshot(tmp_path, nets, where):
    if where == "top":
        data = snapshot_bytes(**nets, extra={"bonus": _Hostile()})
    else:
        sub = record("FullyConnectedLayer", attrs={"weight_gain": _Hostile()})
        data = snapshot_bytes(G=nets["G"], extra={"D": record("Discriminator", modules={"fc": sub})})
    (tmp_path / "s.pkl").write_bytes(data)
    with pytest.raises(UserError, match=r"refusing to load global (os|posix)\.system"):
        load_reference_pickle(tmp_path / "s.pkl", registry=tiny_registry())
    assert not (tmp_path / PAYLOAD_MARKER).exists()


def test_torch_module_classes_are_refused(tmp_path, nets):
    (tmp_path / "s.pkl").write_bytes(snapshot_bytes(**nets, extra={"augment_pipe": torch.nn.Linear(2, 2)}))
    with pytest.raises(UserError, match=r"refusing to load global torch\.nn\.modules\.linear\.Linear"):
        load_reference_pickle(tmp_path / "s.pkl", registry=tiny_registry())


def test_persistent_ids_are_refused(tmp_path):
    import io

    class WithPersistentIds(pickle.Pickler):
        def persistent_id(self, obj):
            return "storage-0" if isinstance(obj, bytes) else None

    buffer = io.BytesIO()
    WithPersistentIds(buffer, protocol=4).dump({"G": b"raw"})
    (tmp_path / "p.pkl").write_bytes(buffer.getvalue())
    with pytest.raises(UserError, match="refusing a persistent id"):
        load_reference_pickle(tmp_path / "p.pkl", registry=tiny_registry())


# --- damaged or unexpected files ----------------------------------------------------------------------------

def _error(path) -> str:
    with pytest.raises(UserError) as info:
        load_reference_pickle(path, registry=tiny_registry())
    return str(info.value)


def test_missing_file(tmp_path):
    assert _error(tmp_path / "gone.pkl").startswith(f"{tmp_path / 'gone.pkl'}: no such file")


def test_truncated_file(tmp_path, nets):
    data = snapshot_bytes(**nets)
    (tmp_path / "cut.pkl").write_bytes(data[: len(data) // 3])
    message = _error(tmp_path / "cut.pkl")
    assert message.startswith(f"{tmp_path / 'cut.pkl'}: not a readable network snapshot pickle")


def test_pickle_of_something_else(tmp_path):
    (tmp_path / "list.pkl").write_bytes(pickle.dumps([1, 2, 3]))
    assert "expected a dict holding networks G, D and G_ema" in _error(tmp_path / "list.pkl")


def test_unexpected_network_class(tmp_path, nets):
    from tests.io.reference_snapshot import module_record, reference_modules

    with reference_modules():
        data = pickle.dumps({"G": module_record(nets["G"], class_name="MappingNetwork")})
    (tmp_path / "m.pkl").write_bytes(data)
    assert "G is a MappingNetwork; expected one of Generator, Discriminator" in _error(tmp_path / "m.pkl")


def test_missing_weight(tmp_path, nets):
    del nets["G"].fc0.bias  # the record lacks it; our Generator expects it
    path = write_snapshot(tmp_path / "s.pkl", G=nets["G"])
    assert _error(path).startswith(f"{path}: G: missing tensor 'fc0.bias'")


def test_kwargs_our_class_rejects(tmp_path, nets):
    nets["D"].init_kwargs["architecture"] = "orig"
    path = write_snapshot(tmp_path / "s.pkl", D=nets["D"])
    message = _error(path)
    assert message.startswith(f"{path}: D: Discriminator cannot be built") and "architecture" in message


class _EvilStorage:
    """A storage whose bytes are a pickle calling os.system: torch's stock _load_from_bytes would run it."""

    def __reduce__(self):
        return (torch.storage._load_from_bytes, (global_call_pickle("os", "system", f"touch {PAYLOAD_MARKER}",
                                                                    protocol=2),))


def test_storage_bytes_are_read_weights_only(tmp_path, nets):
    (tmp_path / "s.pkl").write_bytes(snapshot_bytes(**nets, extra={"x": _EvilStorage()}))
    message = _error(tmp_path / "s.pkl")
    assert message.startswith(f"{tmp_path / 's.pkl'}: not a readable network snapshot pickle")
    assert "GLOBAL os.system" in message and "\n" not in message
    assert not (tmp_path / PAYLOAD_MARKER).exists()


class _ObjectScalar:
    """A numpy 'scalar' of object dtype: numpy would hand back whatever object the pickle built."""

    def __reduce__(self):
        import numpy as np

        return (np._core.multiarray.scalar, (np.dtype("O"), [1, 2]))


def test_numpy_scalars_must_be_plain_numbers(tmp_path, nets):
    (tmp_path / "s.pkl").write_bytes(snapshot_bytes(**nets, extra={"x": _ObjectScalar()}))
    assert "not a plain number" in _error(tmp_path / "s.pkl")


class _OldStyleTensor:
    """A tensor pickled the way other torch versions may: _rebuild_tensor over a typed FloatStorage."""

    def __init__(self, values: list[float]):
        self.values = values

    def __reduce__(self):
        return (torch._utils._rebuild_tensor, (_FloatStorageOf(self.values), 0, (len(self.values),), (1,)))


class _FloatStorageOf:
    def __init__(self, values: list[float]):
        self.values = values

    def __reduce__(self):
        return (torch.FloatStorage, (self.values,))


def test_older_tensor_helpers_are_understood(tmp_path, nets):
    from tests.io.reference_snapshot import module_record, reference_modules

    G = nets["G"]
    values = [0.5, -1.25, 3.0, 0.0, 7.5, -2.0]
    G.w_avg.copy_(torch.tensor(values))
    rec = module_record(G, class_name="Generator")
    rec.meta["state"]["_buffers"]["w_avg"] = _OldStyleTensor(values)
    with reference_modules():
        data = pickle.dumps({"G": rec}, protocol=3)
    assert {"torch._utils _rebuild_tensor", "torch FloatStorage"} <= _globals(data)
    (tmp_path / "old.pkl").write_bytes(data)
    loaded = load_reference_pickle(tmp_path / "old.pkl", registry=tiny_registry())
    assert torch.equal(loaded.networks["G"].w_avg, torch.tensor(values))
    for key, value in G.state_dict().items():
        assert torch.equal(loaded.networks["G"].state_dict()[key], value), key
