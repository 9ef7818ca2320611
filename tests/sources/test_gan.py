"""The gan source kind: its network is checked before any image, images are cached by network content."""

import io
import json

import pytest
import torch
from PIL import Image

from thygan.errors import UserError
from thygan.sources.recipe import read_recipe
from thygan.sources.source import MaterialiseOptions
from thygan.stylegan.sampling import synthesize


def recipe(**changes) -> dict:
    return {"classes": [0, 1], "seeds": ["0-3", "0-2"], "network": ["net.pkl"], "class_map": [0, 1]} | changes


def write(path, content):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content))
    return path


def options(tmp_path, lines=None) -> MaterialiseOptions:
    return MaterialiseOptions(tmp_path / "cache", log=(lines.append if lines is not None else lambda line: None))


@pytest.fixture
def tiny_generator_file(tmp_path):
    from thygan.io.checkpoint import save_checkpoint
    from thygan.stylegan.networks import Generator

    torch.manual_seed(0)
    G = Generator(z_dim=8, c_dim=2, w_dim=8, img_resolution=16, img_channels=3, mapping_kwargs=dict(num_layers=1),
                  synthesis_kwargs=dict(channel_base=128, channel_max=16)).eval()
    stem = tmp_path / "nets" / "tiny"
    save_checkpoint(stem, networks={"G_ema": G})
    return G, stem.with_suffix(".safetensors")


def test_missing_network_is_named(tmp_path):
    path = write(tmp_path / "r.json", recipe(network=["models/absent.pkl"]))
    parsed = read_recipe(path)  # reading alone does not look for the network
    with pytest.raises(UserError, match="network 'models/absent.pkl' not found"):
        parsed.check()
    with pytest.raises(UserError, match="--gan_network: .*other.pkl: no such network file"):
        read_recipe(path, network=str(tmp_path / "other.pkl")).check()


def test_a_class_not_in_the_network_is_refused_before_any_image(tmp_path, tiny_generator_file):
    """The study's 5-class cv_mc100 against a smaller network: before the fix, classes 0-1 were made first."""
    _, network = tiny_generator_file
    path = write(tmp_path / "r.json", recipe(classes=[0, 1, 2], seeds=["0-2", "0-2", "0-2"], class_map=[0, 1, 1],
                                             network=[str(network)]))
    with pytest.raises(UserError, match=r"class 2 is not in the network .* \(it has classes 0-1\)"):
        read_recipe(path).materialise({}, options(tmp_path))
    assert not (tmp_path / "cache").exists()


def test_an_unconditional_network_is_refused(tmp_path):
    from thygan.io.checkpoint import save_checkpoint
    from thygan.stylegan.networks import Generator

    G = Generator(z_dim=8, c_dim=0, w_dim=8, img_resolution=16, img_channels=3, mapping_kwargs=dict(num_layers=1),
                  synthesis_kwargs=dict(channel_base=128, channel_max=16))
    save_checkpoint(tmp_path / "u", networks={"G_ema": G})
    path = write(tmp_path / "r.json", recipe(network=[str(tmp_path / "u.safetensors")]))
    with pytest.raises(UserError, match="is unconditional"):
        read_recipe(path).check()


def test_generation_is_cached_per_network_class_and_seed(tmp_path, tiny_generator_file):
    G, network = tiny_generator_file
    path = write(tmp_path / "nets" / "r.json", recipe(seeds=["0-3", 2], network=["tiny.safetensors"]))  # beside it
    lines = []
    items = read_recipe(path).materialise({0: 3, 1: 2}, options(tmp_path, lines))
    assert [item.label for item in items] == [0, 0, 0, 1, 1] and all(item.mask is None for item in items)
    assert [i.path.name for i in items] == ["seed0000.jpeg", "seed0001.jpeg", "seed0002.jpeg", "seed0000.jpeg",
                                            "seed0001.jpeg"]
    assert items[0].name == f"gan/{items[0].path.parent.name}/seed0000.jpeg"
    assert "GAN class 0 -> label 0: 3 images (0 cached, 3 generated)" in lines[0]
    assert "source 1/1 (gan " in lines[-1] and "5 images, per label {0: 3, 1: 2}" in lines[-1]
    # the cached file is the generator's image of that seed and class, JPEG-encoded as Pillow does
    (_, expected), = synthesize(G, [1], 0)
    buffer = io.BytesIO()
    Image.fromarray(expected).save(buffer, format="JPEG")
    assert items[1].path.read_bytes() == buffer.getvalue()
    # a larger recipe on the same network reuses the first images and makes only the new ones
    before = items[0].path.stat().st_mtime_ns
    bigger = write(tmp_path / "nets" / "r2.json", recipe(seeds=["0-5", 2], network=[str(network)]))
    lines.clear()
    items2 = read_recipe(bigger).materialise({}, options(tmp_path, lines))
    assert len(items2) == 7 and "5 images (3 cached, 2 generated)" in lines[0]
    assert items[0].path.stat().st_mtime_ns == before


def test_gan_network_override_replaces_the_recipes_network(tmp_path, tiny_generator_file):
    _, network = tiny_generator_file
    path = write(tmp_path / "r.json", recipe(network=["models/absent.pkl"], seeds=[1, 1]))
    items = read_recipe(path, network=str(network)).materialise({}, options(tmp_path))
    assert len(items) == 2 and all(item.path.is_file() for item in items)
