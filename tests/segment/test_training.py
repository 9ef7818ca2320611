"""Training: phase 1 leaves the encoder untouched, a resumed run equals an uninterrupted one, run-folder files."""

import dataclasses
import json

import numpy as np
import pytest
import torch
from PIL import Image

from tests.segment.conftest import TINY, disk_instances, render
from thygan.io.checkpoint import load_checkpoint
from thygan.segment.networks import NETWORKS
from thygan.segment.training_loop import NAMES, SegmentOptions, build_network, training_loop


def small_data(root):
    (root / "Images").mkdir(parents=True)
    (root / "Labels").mkdir()
    rng = np.random.default_rng(0)
    for k in range(2):
        inst = disk_instances(64, [tuple(int(v) for v in rng.integers(6, 58, 2)) for _ in range(6)])
        Image.fromarray(render(inst, k)).save(root / "Images" / f"t{k}.png")
        np.save(root / "Labels" / f"t{k}.npy", np.stack([inst, (inst > 0) * 2], -1))
    return root


def options(tmp_path, outdir):
    return SegmentOptions(data=str(tmp_path / "data"), outdir=str(tmp_path / outdir), nr_types=3, input_size=128,
                          width=TINY["width"], blocks=list(TINY["blocks"]), mode=TINY["mode"], epochs=[1, 1],
                          batch=[2, 2], patches_per_epoch=2, device="cpu", overlay_images=1)


def weights(run_dir):
    snap = max(run_dir.glob(f"{NAMES.snapshot}-*.safetensors"))
    return load_checkpoint(snap, registry=NETWORKS).networks["net"].state_dict()


@pytest.mark.slow
def test_two_phases_and_exact_resume(tmp_path):
    small_data(tmp_path / "data")
    opts = options(tmp_path, "a")
    torch.manual_seed(opts.seed)
    initial = build_network(opts.resolved()).state_dict()
    run_b = training_loop(options(tmp_path, "b"), stop_after_epochs=1, verbose=False)
    after_phase1 = weights(run_b)
    for key, value in initial.items():
        if key.startswith(("conv0.conv", "res_blocks")) and key.endswith("weight") and "bn" not in key:
            assert torch.equal(after_phase1[key], value), key          # frozen encoder convolutions
    assert not torch.equal(after_phase1["nucleus_prediction.output_features.decoderblock4.conv.weight"],
                           initial["nucleus_prediction.output_features.decoderblock4.conv.weight"])
    assert json.loads((run_b / "options.json").read_text())["msge_kernel"] == "reference"
    training_loop(SegmentOptions(), run_dir=run_b, verbose=False)       # resume: phase 2
    run_a = training_loop(opts, verbose=False)                          # uninterrupted
    a, b = weights(run_a), weights(run_b)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["res_blocks.d0.shortcut.weight"], initial["res_blocks.d0.shortcut.weight"])
    names = {p.name for p in run_b.iterdir()}
    assert {"options.json", "log.txt", "stats.jsonl", "overlay-000001.png", "overlay-000002.png",
            "hovernet-snapshot-000002.safetensors", "training-state-000002.json"} <= names
    assert "hovernet-snapshot-000001.json" not in names                 # only the newest snapshot is kept
    stats = [json.loads(line) for line in (run_b / "stats.jsonl").read_text().splitlines()]
    assert [s["phase"] for s in stats] == [1, 2]
    lines = [line for line in (run_b / "log.txt").read_text().splitlines() if line.startswith("epoch")]
    assert len(lines) == 2 and "phase 2" in lines[1]


@pytest.mark.slow
def test_a_run_from_before_msge_kernel_resumes_with_monai_kernels(tmp_path):
    """An options.json without msge_kernel (older runs, MONAI's kernels) resumes bit-exactly as it began."""
    small_data(tmp_path / "data")
    old = dataclasses.replace(options(tmp_path, "old"), msge_kernel="monai")
    run_old = training_loop(old, stop_after_epochs=1, verbose=False)
    saved = json.loads((run_old / "options.json").read_text())
    del saved["msge_kernel"]
    (run_old / "options.json").write_text(json.dumps(saved))
    training_loop(SegmentOptions(), run_dir=run_old, verbose=False)
    uninterrupted = training_loop(dataclasses.replace(old, outdir=str(tmp_path / "new")), verbose=False)
    a, b = weights(uninterrupted), weights(run_old)
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("length,batch,world", [(10, 4, 2), (8, 4, 4), (3, 4, 1), (12, 6, 3)])
def test_epoch_indices_cover_the_one_process_batches(length, batch, world):
    from thygan.segment.training_loop import epoch_indices

    one = epoch_indices(length, batch)
    shares = [epoch_indices(length, batch, rank=r, world_size=world) for r in range(world)]
    per = batch // world
    assert len({len(s) for s in shares}) == 1                          # equal steps: nobody waits forever
    steps = [sorted(i for s in shares for i in s[k * per:(k + 1) * per]) for k in range(len(shares[0]) // per)]
    expected = [one[k:k + batch] for k in range(0, len(one), batch)]
    assert steps == expected if world > 1 else one == [i for b in expected for i in b]
    assert one == (list(range(length)) if length <= batch else list(range(length // batch * batch)))


def test_uneven_split_is_refused(tmp_path):
    from thygan.errors import UserError
    from thygan.segment.training_loop import check_world

    opts = options(tmp_path, "x")
    check_world(opts, 2, 2)
    with pytest.raises(UserError, match="--batch: 2 .* 3 processes"):
        check_world(opts, 2, 3)
    with pytest.raises(UserError, match="--patches-per-epoch: 1 windows"):
        check_world(opts, 1, 2)


def test_launch_refuses_an_uneven_batch_before_any_folder_or_process(tmp_path):
    from thygan.errors import UserError
    from thygan.segment.training_loop import launch_training

    small_data(tmp_path / "data")
    with pytest.raises(UserError, match="--batch: 3 .* 2 processes"):
        launch_training(dataclasses.replace(options(tmp_path, "runs"), batch=[3, 2]), gpus=2, verbose=False)
    assert not (tmp_path / "runs").exists()


def per_window_average_training(opts):
    """The training the processes should do together, computed naively in one process: each step's gradient
    is the mean of per-window gradients (each window through the batch norms alone, as in its own process)."""
    import torch.nn.functional as F

    from thygan.segment.data import read_dataset
    from thygan.segment.loss import hovernet_loss
    from thygan.segment.patches import PatchDataset

    opts = opts.resolved()
    torch.manual_seed(opts.seed)
    net = build_network(opts)
    output_size = net.output_size(opts.input_size)
    dataset = PatchDataset(read_dataset(opts.data, nr_types=opts.nr_types), input_size=opts.input_size,
                           output_size=output_size, length=opts.patches_per_epoch, seed=opts.seed)
    loss_fn = hovernet_loss(opts.msge_kernel)
    net.train()
    for epoch, phase in enumerate([0] * opts.epochs[0] + [1] * opts.epochs[1]):
        if epoch in (0, opts.epochs[0]):
            opt = torch.optim.Adam(net.parameters(), lr=opts.lr, betas=(0.9, 0.999))
        for p in net.encoder_parameters():
            p.requires_grad_(phase == 1)
        dataset.set_epoch(epoch)
        batch = opts.batch[phase]
        for start in range(0, len(dataset) // batch * batch, batch):
            grads = {}
            for index in range(start, start + batch):
                item = dataset[index]
                out = net(item["image"][None])
                loss = loss_fn(
                    {"nucleus_prediction": out["np"], "horizontal_vertical": out["hv"], "type_prediction": out["tp"]},
                    {"nucleus_prediction": F.one_hot(item["np"][None], 2).permute(0, 3, 1, 2).float(),
                     "horizontal_vertical": item["hv"][None],
                     "type_prediction": F.one_hot(item["tp"][None], opts.nr_types).permute(0, 3, 1, 2).float()})
                trained = [(n, p) for n, p in net.named_parameters() if p.requires_grad]
                for (name, _), g in zip(trained, torch.autograd.grad(loss, [p for _, p in trained])):
                    grads[name] = grads.get(name, 0) + g / batch
            opt.zero_grad(set_to_none=True)
            for name, p in net.named_parameters():
                p.grad = grads.get(name)
            opt.step()
    return {k: v.detach() for k, v in net.named_parameters()}


@pytest.mark.slow
def test_two_processes_average_per_window_gradients_of_the_global_batch(tmp_path):
    """2 gloo processes x 1 window, both phases: the weights of a naive per-window gradient average over
    each global batch of 2; a process training alone on its own windows lands far away."""
    from thygan.segment.training_loop import launch_training

    small_data(tmp_path / "data")
    opts = dataclasses.replace(options(tmp_path, "two"), patches_per_epoch=4)     # 2 steps of 2 per phase
    two = weights(launch_training(opts, gpus=2, verbose=False))
    alone = weights(launch_training(dataclasses.replace(opts, outdir=str(tmp_path / "alone"), batch=[1, 1],
                                                        patches_per_epoch=2), verbose=False))
    expected = per_window_average_training(opts)

    def distance(got):
        return max(float((got[k] - v).abs().max()) for k, v in expected.items())

    assert distance(two) < 1e-5
    assert distance(alone) > 1e-4                                      # Adam moves each weight ~1e-4 a step
    run_dir = tmp_path / "two" / "00000-hovernet"
    stats = [json.loads(line) for line in (run_dir / "stats.jsonl").read_text().splitlines()]
    assert [s["epoch"] for s in stats] == [1, 2]                       # rank 0 alone wrote, once per epoch
    assert (run_dir / "overlay-000002.png").exists()


def test_overlay_rows_are_image_prediction_labels_under_titles(tmp_path):
    """Each row: the image untouched, predicted contours, label contours (ink only on label edges); the title
    of the third column says pseudo-labels only for a folder `segment pseudo-labels` made."""
    from scipy import ndimage

    from thygan.segment.data import read_dataset
    from thygan.segment.training_loop import _overlay, labels_title

    small_data(tmp_path / "data")
    assert labels_title(tmp_path / "data") == "labels"
    (tmp_path / "data" / "pseudo_labels.json").write_text("{}")
    assert labels_title(tmp_path / "data") == "pseudo-labels"
    opts = dataclasses.replace(options(tmp_path, "o"), overlay_images=2).resolved()
    torch.manual_seed(0)
    net = build_network(opts).eval()
    samples = read_dataset(opts.data, nr_types=opts.nr_types)
    picture = _overlay(net, samples, opts, net.output_size(opts.input_size), "cpu", None, "labels")
    band = picture.shape[0] - (2 * 64 + 2)
    assert band > 0 and picture.shape[1] == 3 * 64 + 2 * 2
    for row, s in enumerate(samples):
        top = band + row * 66
        np.testing.assert_array_equal(picture[top:top + 64, :64], s.image)
        drawn = (picture[top:top + 64, 132:196] != s.image).any(-1)
        near_nuclei = ndimage.binary_dilation(s.inst > 0, iterations=2)  # 2 px contours on the nucleus edges
        assert drawn.any() and not (drawn & ~near_nuclei).any()
    assert (picture[:band, 132:196] < 128).any() and (picture[:band, :64] < 128).any()
