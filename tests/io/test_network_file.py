"""load_network_file picks the reader by suffix and names the path in every refusal."""

import pytest
import torch

from tests.io.reference_snapshot import write_snapshot
from tests.io.stand_in import TinyGenerator, tiny_registry
from thygan.errors import UserError
from thygan.io.checkpoint import save_checkpoint
from thygan.io.network_file import load_network_file


@pytest.fixture
def G():
    torch.manual_seed(2)
    return TinyGenerator(width=7)


def _same(loaded, G) -> bool:
    return all(torch.equal(v, G.state_dict()[k]) for k, v in loaded.networks["G"].state_dict().items())


@pytest.mark.parametrize("name", ["net", "net.safetensors", "net.json"])
def test_checkpoint_names(tmp_path, G, name):
    save_checkpoint(tmp_path / "net", networks={"G": G}, registry=tiny_registry())
    loaded = load_network_file(tmp_path / name, registry=tiny_registry())
    assert loaded.meta["format"] == "thygan-checkpoint" and _same(loaded, G)


def test_stem_with_dots(tmp_path, G):
    save_checkpoint(tmp_path / "model.v2", networks={"G": G}, registry=tiny_registry())
    assert _same(load_network_file(tmp_path / "model.v2", registry=tiny_registry()), G)


def test_pickle_goes_to_the_reference_importer(tmp_path, G):
    path = write_snapshot(tmp_path / "network-snapshot-000012.pkl", G=G)
    loaded = load_network_file(path, registry=tiny_registry())
    assert loaded.meta["format"] == "stylegan2-ada-pickle" and loaded.meta["kimg"] == 12 and _same(loaded, G)


@pytest.mark.parametrize("name,expected", [("weights.pt", "unknown network file type '.pt'"),
                                           ("missing", "no such network file"),
                                           ("missing.pkl", "no such file"),
                                           ("missing.safetensors", "no such file"),
                                           ("folder", "is a folder")])
def test_refusals_name_the_path(tmp_path, name, expected):
    (tmp_path / "weights.pt").write_bytes(b"\0")
    (tmp_path / "folder").mkdir()
    with pytest.raises(UserError) as info:
        load_network_file(tmp_path / name, registry=tiny_registry())
    assert str(tmp_path / name) in str(info.value) and expected in str(info.value)
