"""The segmentation source kinds (pix2pix_masks, translated): image + mask pairs, counted, cached by content,
aligned with their masks, and bad recipes refused before any image is made."""

import json
import os
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from thygan.errors import UserError
from thygan.segment.data import read_dataset, read_label
from thygan.sources.recipe import read_recipe
from thygan.sources.source import MaterialiseOptions
from thygan.translate.inference import translate_images
from thygan.translate.mask_sampler import MaskSampler
from thygan.translate.masks import mask_input_channels, read_mask, render_mask
from thygan.translate.networks import build_generator

TYPES = 2
pytestmark = pytest.mark.usefixtures("single_thread")  # tiny networks: threads only contend


def disks(size, centers, radius=4):
    rr, cc = np.mgrid[:size, :size]
    inst = np.zeros((size, size), np.int32)
    for k, (r, c) in enumerate(centers, start=1):
        inst[(rr - r) ** 2 + (cc - c) ** 2 <= radius ** 2] = k
    return inst


@pytest.fixture
def files(tmp_path):
    """Two tiny generators (mask -> H&E and H&E -> H&E), a folder of real masks, a labelled tile folder."""
    from thygan.translate.generator_file import save_generator

    torch.manual_seed(0)
    nets = tmp_path / "nets"
    mask_G = build_generator("resnet_6blocks", input_nc=mask_input_channels(TYPES), ngf=4, norm="batch").eval()
    image_G = build_generator("resnet_6blocks", input_nc=3, ngf=4).eval()
    mask_net, image_net = save_generator(nets / "masks2he", mask_G), save_generator(nets / "he2ihc", image_G)
    masks = tmp_path / "masks"
    masks.mkdir()
    rng = np.random.default_rng(0)
    for k in range(3):
        inst = disks(32, [tuple(int(v) for v in rng.integers(5, 27, 2)) for _ in range(3)])
        ids = np.unique(inst)[1:]
        np.savez(masks / f"m{k}.npz", inst_map=inst, inst_type=(1 + ids % TYPES).astype(np.int32))
    tiles = tmp_path / "tiles"
    tiles.mkdir()
    for k in range(2):
        inst = disks(24, [(6 + 4 * k, 8), (16, 17)])
        image = rng.integers(0, 256, (24, 24, 3)).astype(np.float64)
        np.save(tiles / f"t{k}.npy", np.dstack([image, inst, (inst > 0) * (1 + k)]))
    return dict(mask_G=mask_G, image_G=image_G, mask_net=mask_net, image_net=image_net, masks=masks, tiles=tiles)


def write_recipe(tmp_path, sources) -> str:
    path = tmp_path / "recipe.json"
    path.write_text(json.dumps({"sources": sources}))
    return str(path)


def pix2pix_entry(files, **changes):
    return {"kind": "pix2pix_masks", "network": str(files["mask_net"]), "masks": str(files["masks"]),
            "mask_types": TYPES, "seeds": "0-3", "size": 32} | changes


def translated_entry(files, **changes):
    return {"kind": "translated", "network": str(files["image_net"]), "data": str(files["tiles"]),
            "nr_types": 3} | changes


def options(tmp_path, lines):
    return MaterialiseOptions(tmp_path / "cache", log=lines.append)


def test_counts_per_source_planned_then_made_and_logged(tmp_path, files):
    recipe = read_recipe(write_recipe(tmp_path, [pix2pix_entry(files), translated_entry(files),
                                                 pix2pix_entry(files, seeds="50%")]))
    assert recipe.plan({0: 4}) == {0: 3 + 2 + 2}
    recipe.check()
    assert not (tmp_path / "cache").exists()  # planning and checking make nothing
    lines = []
    items = recipe.materialise({0: 4}, options(tmp_path, lines))
    assert [item.name.split("/")[0] for item in items] == ["pix2pix_masks"] * 3 + ["translated"] * 2 + \
        ["pix2pix_masks"] * 2
    assert all(item.label == 0 and item.mask is not None and item.mask.is_file() for item in items)
    assert "3 mask -> H&E pairs (0 cached, 3 generated)" in lines[0]
    assert "source 1/3" in lines[1] and "3 images" in lines[1]
    assert "2 tiles" in lines[2] and "(0 cached, 2 translated)" in lines[2]
    assert "2 mask -> H&E pairs (2 cached, 0 generated)" in lines[4]  # seeds 0 and 1 again


def test_the_cache_is_keyed_by_content_and_reused(tmp_path, files):
    entries = [pix2pix_entry(files), translated_entry(files)]
    lines = []
    first = read_recipe(write_recipe(tmp_path, entries)).materialise({0: 2}, options(tmp_path, lines))
    stamps = [os.stat(item.path).st_mtime_ns for item in first]
    # the same weights and data under other names: the same cache folders, nothing made again
    moved = tmp_path / "moved"
    shutil.copytree(files["masks"], moved / "masks")
    shutil.copytree(files["tiles"], moved / "tiles")
    for net in ("mask_net", "image_net"):
        for path in (files[net], files[net].with_suffix(".json")):
            shutil.copy(path, moved / path.name)
    entries = [pix2pix_entry(files, network=str(moved / files["mask_net"].name), masks=str(moved / "masks")),
               translated_entry(files, network=str(moved / files["image_net"].name), data=str(moved / "tiles"))]
    lines.clear()
    second = read_recipe(write_recipe(tmp_path, entries)).materialise({0: 2}, options(tmp_path, lines))
    assert [item.path for item in second] == [item.path for item in first]
    assert [os.stat(item.path).st_mtime_ns for item in second] == stamps
    assert "(3 cached, 0 generated)" in lines[0] and "(2 cached, 0 translated)" in lines[2]
    # another mask file: another key, so new pairs
    np.savez(moved / "masks" / "m9.npz", inst_map=disks(32, [(10, 10)]), inst_type=np.array([1], np.int32))
    lines.clear()
    third = read_recipe(write_recipe(tmp_path, entries[:1])).materialise({0: 2}, options(tmp_path, lines))
    assert third[0].path.parent != first[0].path.parent and "(0 cached, 3 generated)" in lines[0]


def test_pix2pix_pairs_are_the_sampled_mask_and_its_painting(tmp_path, files):
    items = read_recipe(write_recipe(tmp_path, [pix2pix_entry(files)])).materialise({}, options(tmp_path, []))
    sampler = MaskSampler([read_mask(p, TYPES) for p in sorted(files["masks"].glob("*.npz"))], num_types=TYPES,
                          retype_prob=0.3)
    for seed, item in enumerate(items):
        expected = sampler.sample(32, np.random.default_rng(seed))
        mask = np.load(item.mask)
        assert mask.shape == (32, 32, 2) and mask[:, :, 0].max() > 0
        np.testing.assert_array_equal(mask, expected.stacked())
        with torch.no_grad():
            painted = files["mask_G"](render_mask(expected.stacked(), TYPES)[None])[0]
        expected_image = ((painted.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
        image = np.asarray(Image.open(item.path))
        assert np.abs(image.astype(int) - expected_image.astype(int)).max() <= 1


def test_translated_pairs_keep_the_source_masks(tmp_path, files):
    items = read_recipe(write_recipe(tmp_path, [translated_entry(files)])).materialise({}, options(tmp_path, []))
    samples = read_dataset(files["tiles"], nr_types=3)
    assert len(items) == len(samples) == 2
    for sample, item in zip(samples, items):
        mask = np.load(item.mask)
        np.testing.assert_array_equal(mask[:, :, 0], sample.inst)
        np.testing.assert_array_equal(mask[:, :, 1], sample.types)
        [expected] = translate_images(files["image_G"], [sample.image], device="cpu")
        np.testing.assert_array_equal(np.asarray(Image.open(item.path)), expected)
    # what segmentation training reads back (thygan.segment.data.read_label): the same maps
    inst, types = read_label(items[1].mask)
    assert np.array_equal(inst, samples[1].inst) and np.array_equal(types, samples[1].types)


@pytest.mark.parametrize(("entry", "message"), [
    (lambda f: {"kind": "pix2pix_mask"}, "sources\\[1\\]: unknown synthetic source kind 'pix2pix_mask'"),
    (lambda f: pix2pix_entry(f, seeds="x"), "sources\\[1\\]: seeds: malformed seeds"),
    (lambda f: translated_entry(f, masks="m"), "sources\\[1\\]: unknown key 'masks'"),
    (lambda f: pix2pix_entry(f, network=str(f["image_net"])),
     "sources\\[1\\]: .*he2ihc.safetensors is a generator from 3 to 3 channels, not a pix2pix mask -> H&E"),
    (lambda f: translated_entry(f, network=str(f["mask_net"])),
     "sources\\[1\\]: .*masks2he.safetensors is a generator from 4 to 3 channels, not an image translation"),
    (lambda f: translated_entry(f, data="absent"), "sources\\[1\\]: data folder 'absent' not found"),
])
def test_bad_entries_are_refused_before_any_image(tmp_path, files, entry, message):
    with pytest.raises(UserError, match=message):
        recipe = read_recipe(write_recipe(tmp_path, [pix2pix_entry(files), entry(files)]))
        recipe.materialise({0: 2}, options(tmp_path, []))
    assert not (tmp_path / "cache").exists()


def test_a_stylegan_file_is_no_translation_generator(tmp_path, files):
    from thygan.io.checkpoint import save_checkpoint
    from thygan.stylegan.networks import Generator

    G = Generator(z_dim=8, c_dim=0, w_dim=8, img_resolution=16, img_channels=3, mapping_kwargs=dict(num_layers=1),
                  synthesis_kwargs=dict(channel_base=128, channel_max=16))
    save_checkpoint(tmp_path / "gan", networks={"G_ema": G})
    recipe = read_recipe(write_recipe(tmp_path, [translated_entry(files, network=str(tmp_path / "gan.safetensors"))]))
    with pytest.raises(UserError, match="gan"):
        recipe.check()


@pytest.fixture
def hovernet_file(tmp_path):
    """A tiny HoVer-Net snapshot ('fast' geometry, 128 px in -> 36 px out, 3 types) and a folder of tiles."""
    from thygan.io.checkpoint import save_checkpoint
    from thygan.segment.networks import NETWORKS, HoVerNet

    torch.manual_seed(3)
    net = HoVerNet(mode="fast", nr_types=3, width=0.125, blocks=(1, 1, 1, 1)).eval()
    weights, _ = save_checkpoint(tmp_path / "nets" / "hovernet", networks={"net": net}, registry=NETWORKS,
                                 extra={"input_size": 128})
    tiles = tmp_path / "generated"
    tiles.mkdir()
    rng = np.random.default_rng(5)
    for k in range(4):
        image = np.full((40, 40, 3), 225, np.uint8)
        image[disks(40, [tuple(int(v) for v in rng.integers(6, 34, 2)) for _ in range(2 + k)], radius=5) > 0] = \
            (60 + 30 * k, 40, 120)
        Image.fromarray(image).save(tiles / f"seed{k:04d}.png")
    return net, weights, tiles


def test_pseudo_labels_keep_the_confident_tiles_and_their_predictions(tmp_path, hovernet_file):
    from thygan.segment.predict import segment_image

    net, weights, tiles = hovernet_file
    expected = []
    for path in sorted(tiles.glob("*.png")):
        image = np.asarray(Image.open(path).convert("RGB"))
        inst, records, maps = segment_image(net, image, input_size=128, output_size=36)
        score = float(np.mean(maps.np_prob[inst > 0])) if (inst > 0).any() else 0.0
        expected.append((path.name, inst, len(records), score))
    scores = sorted(score for *_, score in expected)
    threshold = (scores[1] + scores[2]) / 2  # keeps the two most confident tiles
    entry = {"kind": "pseudo_labelled", "network": str(weights), "images": str(tiles), "threshold": threshold,
             "min_instances": 0}
    lines = []
    recipe = read_recipe(write_recipe(tmp_path, [entry]))
    assert recipe.plan({0: 9}) == {0: 4}
    items = recipe.materialise({0: 9}, options(tmp_path, lines))
    kept = [(name, inst) for name, inst, _, score in expected if score >= threshold]
    assert (len(items), len(kept)) == (2, 2), (items, [k[0] for k in kept])
    assert "2 of 4 tiles kept" in lines[0] and "0 cached, 4 segmented)" in lines[0]
    for item, (name, inst) in zip(items, kept):
        mask = np.load(item.mask)
        np.testing.assert_array_equal(mask[:, :, 0], inst)
        np.testing.assert_array_equal(np.asarray(Image.open(item.path)), np.asarray(Image.open(tiles / name)))
        assert (mask[:, :, 1][inst == 0] == 0).all()
    # another threshold: the cached predictions are filtered again, nothing is segmented again
    lines.clear()
    recipe = read_recipe(write_recipe(tmp_path, [entry | {"threshold": 0.0}]))
    assert len(recipe.materialise({0: 9}, options(tmp_path, lines))) == 4 and "4 cached, 0 segmented)" in lines[0]
    fewest = min(n for _, _, n, _ in expected)
    recipe = read_recipe(write_recipe(tmp_path, [entry | {"threshold": 0.0, "min_instances": fewest + 1}]))
    assert len(recipe.materialise({0: 9}, options(tmp_path, []))) == sum(n > fewest for _, _, n, _ in expected)


def test_pseudo_labelling_refuses_a_translation_generator(tmp_path, files, hovernet_file):
    _, _, tiles = hovernet_file
    entry = {"kind": "pseudo_labelled", "network": str(files["image_net"]), "images": str(tiles)}
    with pytest.raises(UserError, match="sources\\[0\\]: not a HoVer-Net"):
        read_recipe(write_recipe(tmp_path, [entry])).materialise({}, options(tmp_path, []))
    assert not (tmp_path / "cache").exists()
