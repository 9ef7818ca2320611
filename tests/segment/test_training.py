"""Training: phase 1 leaves the encoder untouched, a resumed run equals an uninterrupted one, run-folder files."""

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
