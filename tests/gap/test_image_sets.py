"""Image sets: spec parsing, folder labels and subsets, content digests, generated sets."""

import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from tests.gap.conftest import coloured_images, write_folder
from thygan.errors import UserError
from thygan.gap.image_sets import SetSpec, open_image_set, parse_set_spec
from thygan.io.checkpoint import save_checkpoint
from thygan.stylegan.networks import Generator
from thygan.stylegan.sampling import synthesize


def test_parse_set_spec():
    assert parse_set_spec("H&E 10x=tiles/he:max=5:color=gold") == SetSpec("H&E 10x", "tiles/he",
                                                                           {"max": "5", "color": "gold"})
    assert parse_set_spec("gan=net.pkl:class=all:seeds=0-9").options == {"class": "all", "seeds": "0-9"}
    assert parse_set_spec("IHC->H&E=translated/").name == "IHC->H&E"  # a translated set, named by its direction


@pytest.mark.parametrize("text, message", [("tiles", "expected NAME=SOURCE"), ("=tiles", "set name"),
                                           ("a=tiles:size=3", "'size=3'"),
                                           ("a=t:max=1:max=2", "'max' given twice"),
                                           ("a=t:color=notacolour", "color=notacolour")])
def test_parse_set_spec_rejects(text, message):
    with pytest.raises(UserError, match=message):
        parse_set_spec(text)


def test_folder_labels_class_names_and_images(two_domains):
    red, blue = two_domains
    labelled = open_image_set(parse_set_spec(f"red={red}"))
    unlabelled = open_image_set(parse_set_spec(f"blue={blue}"))
    assert len(labelled) == 24 and labelled.labels.tolist() == [0] * 12 + [1] * 12
    assert labelled.class_names == ["a", "b"] and labelled.class_key(1) == "b"
    assert unlabelled.labels.tolist() == [-1] * 20 and unlabelled.class_names is None
    first = next(labelled.images())
    np.testing.assert_array_equal(first, np.asarray(Image.open(red / "img0000.png")))
    assert len(list(labelled.images(start=20))) == 4


def test_max_subset_is_fixed_and_keeps_file_order(two_domains):
    red, _ = two_domains
    a = open_image_set(parse_set_spec(f"red={red}:max=5"))
    b = open_image_set(parse_set_spec(f"other name={red}:max=5"))
    assert a.item_names == b.item_names == sorted(a.item_names) and len(a) == 5
    assert a.digest() == b.digest()


def test_digest_follows_content_not_location(two_domains, tmp_path):
    red, _ = two_domains
    copy = shutil.copytree(red, tmp_path / "moved")
    def digest(path):
        return open_image_set(parse_set_spec(f"x={path}")).digest()

    assert digest(red) == digest(copy)
    pixels = np.asarray(Image.open(copy / "img0003.png")).copy()
    pixels[0, 0, 0] ^= 1
    Image.fromarray(pixels).save(copy / "img0003.png")
    assert digest(red) != digest(copy)


def test_grey_and_mixed_sizes_without_dataset_json(tmp_path):
    folder = tmp_path / "mixed"
    write_folder(folder, coloured_images(2, colour=(90, 90, 90), size=8))
    Image.fromarray(np.full([12, 12], 7, np.uint8)).save(folder / "zgrey.png")
    images = list(open_image_set(parse_set_spec(f"m={folder}")).images())
    assert [im.shape for im in images] == [(8, 8, 3), (8, 8, 3), (12, 12, 3)]
    assert (images[2] == 7).all()


TINY_G = dict(z_dim=8, c_dim=2, w_dim=8, img_resolution=16, img_channels=3, mapping_kwargs=dict(num_layers=1),
              synthesis_kwargs=dict(channel_base=128, channel_max=16))


@pytest.fixture
def tiny_network(tmp_path):
    torch.manual_seed(0)
    G = Generator(**TINY_G).eval()
    save_checkpoint(tmp_path / "net", networks={"G_ema": G}, class_names=["benign", "tumour"])
    return tmp_path / "net.safetensors", G


def test_generated_set_draws_the_seeds_of_each_class(tiny_network):
    path, G = tiny_network
    image_set = open_image_set(parse_set_spec(f"gan={path}:class=all:seeds=3-5"), batch_size=2)
    assert image_set.item_names == [f"class{c}/seed{s:04d}" for c in (0, 1) for s in (3, 4, 5)]
    assert image_set.labels.tolist() == [0, 0, 0, 1, 1, 1] and image_set.class_key(1) == "tumour"
    images = list(image_set.images(start=2))
    expected = [image for _, image in synthesize(G, [5], 0)]
    expected += [image for _, image in synthesize(G, [3, 4, 5], 1)]
    assert len(images) == 4
    for got, want in zip(images, expected, strict=True):
        np.testing.assert_array_equal(got, want)


def test_generated_set_digest_depends_on_the_recipe(tiny_network):
    path, _ = tiny_network
    digests = {open_image_set(parse_set_spec(f"g={path}:{options}")).digest()
               for options in ("class=0:seeds=0-3", "class=1:seeds=0-3", "class=0:seeds=0-4",
                               "class=0:seeds=0-3:trunc=0.5")}
    assert len(digests) == 4
    assert open_image_set(parse_set_spec(f"g={path}:class=0:seeds=0-3")).digest() in digests


@pytest.mark.parametrize("options, message", [("class=all", "needs seeds="), ("seeds=0-3:class=9", "--class"),
                                              ("seeds=0-3:class=0:max=2", "does not apply"),
                                              ("seeds=0-3:class=0:trunc=x", "trunc=x is not a number")])
def test_generated_set_bad_options(tiny_network, options, message):
    path, _ = tiny_network
    with pytest.raises(UserError, match=message):
        open_image_set(parse_set_spec(f"g={path}:{options}"))


def test_missing_source_and_folder_only_options(two_domains, tmp_path):
    red, _ = two_domains
    with pytest.raises(UserError, match="no such folder, zip or network file"):
        open_image_set(parse_set_spec(f"x={tmp_path / 'nothing'}"))
    with pytest.raises(UserError, match="only apply to network sources"):
        open_image_set(parse_set_spec(f"x={red}:seeds=0-3"))
    with pytest.raises(UserError, match="max=0 is not a positive number"):
        open_image_set(parse_set_spec(f"x={red}:max=0"))


def test_a_gan_params_recipe_is_recognised_and_refused_with_a_hint(tmp_path):
    recipe = tmp_path / "cv_bi100.json"
    recipe.write_text('{"classes": [0, 1], "seeds": ["0-510", "0-400"], "network": ["models/gan_bi.pkl"], '
                      '"class_map": [0, 1]}')
    with pytest.raises(UserError, match="gan_params recipes are not read here yet.*class=C:seeds=A-B"):
        open_image_set(parse_set_spec(f"gan={recipe}"))


def test_a_damaged_dataset_json_is_reported_not_ignored(two_domains):
    red, _ = two_domains
    (red / "dataset.json").write_text("{not json")
    with pytest.raises(UserError, match="dataset.json: not valid JSON"):
        open_image_set(parse_set_spec(f"red={red}"))
