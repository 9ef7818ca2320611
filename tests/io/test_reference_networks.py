"""The real networks through both formats: a reference-style snapshot of the golden cond32 weights imports
with outputs identical to the original's (and to the reference code's golden images), and converts to a
thygan checkpoint that gives the same outputs again."""

import json

import pytest
import torch
from safetensors.torch import load_file

from tests.io.reference_snapshot import PAYLOAD_MARKER, augment_pipe_record, write_snapshot
from thygan.io.network_file import load_network_file
from thygan.io.reference_pickle import convert_reference_pickle
from thygan.stylegan.networks import Discriminator, Generator


@pytest.fixture(scope="module")
def cond32(golden_dir):
    cfg = json.loads((golden_dir / "stylegan2_ada_keys.json").read_text())["configs"]["cond32"]
    weights = load_file(str(golden_dir / "cond32_weights.safetensors"))
    G_ema = Generator(**cfg["G_kwargs"]).eval()
    D = Discriminator(**cfg["D_kwargs"]).eval()
    G_ema.load_state_dict({k[6:]: v for k, v in weights.items() if k.startswith("G_ema.")}, strict=True)
    D.load_state_dict({k[2:]: v for k, v in weights.items() if k.startswith("D.")}, strict=True)
    gold = load_file(str(golden_dir / "cond32_outputs.safetensors"))
    return cfg, G_ema, D, gold


def _outputs(G, D, gold):
    """G_ema's images of the first 2 golden latents, class 1, and D's logits on them."""
    c = torch.nn.functional.one_hot(torch.full([2], 1), 3).float()
    with torch.no_grad():
        img = G(gold["z"][:2], c, noise_mode="const")
        return img, D(img, c)


def _assert_same_weights(loaded, originals):
    for name, net in originals.items():
        got = loaded.networks[name].state_dict()
        assert list(got) == list(net.state_dict())
        for key, value in net.state_dict().items():
            assert torch.equal(got[key], value), (name, key)


@pytest.mark.slow
def test_golden_cond32_through_pickle_and_checkpoint(tmp_path, monkeypatch, cond32):
    monkeypatch.chdir(tmp_path)
    cfg, G_ema, D, gold = cond32
    reference_kwargs = {"G": cfg["G_kwargs"], "D": cfg["D_kwargs"], "G_ema": cfg["G_kwargs"]}
    pkl = write_snapshot(tmp_path / "network-snapshot-000120.pkl", G=G_ema, D=D, G_ema=G_ema,
                         augment_pipe=augment_pipe_record(p=0.2), protocol=4, network_kwargs=reference_kwargs,
                         training_set_kwargs={"class_name": "training.dataset.ImageFolderDataset",
                                              "path": "tiles.zip", "use_labels": True, "resolution": 32})
    expected = _outputs(G_ema, D, gold)
    # The originals reproduce the reference code's own images, so "equal to the original" means "correct".
    torch.testing.assert_close(expected[0], gold["img_c1_psi1p0"][:2], atol=1e-4, rtol=0)

    imported = load_network_file(pkl)
    assert imported.meta["networks"]["G_ema"]["kwargs"] == cfg["G_kwargs"]
    _assert_same_weights(imported, {"G": G_ema, "D": D, "G_ema": G_ema})
    got = _outputs(imported.networks["G_ema"], imported.networks["D"], gold)
    for a, b in zip(got, expected, strict=True):
        assert torch.equal(a, b)

    convert_reference_pickle(pkl, tmp_path / "converted")
    converted = load_network_file(tmp_path / "converted.safetensors")
    _assert_same_weights(converted, {"G": G_ema, "D": D, "G_ema": G_ema})
    assert torch.equal(_outputs(converted.networks["G_ema"], converted.networks["D"], gold)[0], expected[0])
    assert converted.meta["kimg"] == 120
    assert torch.equal(converted.extra_tensors["augment_pipe"]["p"], torch.tensor(0.2))
    assert not (tmp_path / PAYLOAD_MARKER).exists()
