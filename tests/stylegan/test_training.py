"""The training loop on a tiny CPU configuration: it runs, writes the run folder, resumes exactly,
and several processes compute what one process computes."""

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from thygan.cli.train import train_command
from thygan.io.checkpoint import load_checkpoint
from thygan.runs import latest_snapshot
from thygan.stylegan.networks import Discriminator, Generator
from thygan.stylegan.train_launch import resolve_options, train_in_run_folder
from thygan.stylegan.training_loop import training_loop
from thygan.stylegan.training_options import (
    AugmentOptions,
    TrainFlags,
    options_from_dict,
    options_to_dict,
    options_to_json,
)
from torch_utils.launch import launch


def tiny_options(data, **changes):
    flags = TrainFlags(data=str(data), cfg="cpu32", cond=True, metrics="none", batch=4, workers=0, device="cpu",
                       aug="noaug")
    opts, _ = resolve_options(flags)
    for kwargs in (opts.G_kwargs["synthesis_kwargs"], opts.D_kwargs):
        kwargs["channel_base"], kwargs["channel_max"] = 256, 16
    opts.G_kwargs["z_dim"] = opts.G_kwargs["w_dim"] = 16
    opts.D_kwargs["mapping_kwargs"] = {"num_layers": 2}
    opts.D_kwargs["epilogue_kwargs"]["mbstd_group_size"] = 2
    opts.batch_gpu = 4
    opts.kimg_per_tick = 0.008          # a tick every 2 minibatches of 4
    opts.image_snapshot_ticks = opts.network_snapshot_ticks = 1
    opts.G_reg_interval, opts.D_reg_interval = 2, 2  # exercise the lazy-regularization phases early
    for key, value in changes.items():
        setattr(opts, key, value)
    return opts


def final_weights(run_dir):
    loaded = load_checkpoint(latest_snapshot(run_dir))
    return {f"{net}.{k}": v for net, module in loaded.networks.items() for k, v in module.state_dict().items()}


def test_training_writes_the_run_folder(tiny_dataset, tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    progress = training_loop(tiny_options(tiny_dataset), run_dir, max_steps=4)
    # tick 0 after the first minibatch (as the reference), tick 1 after 2 more, tick 2 at the end
    assert progress.cur_nimg == 16 and progress.batch_idx == 4 and progress.tick == 3
    names = {p.name for p in run_dir.iterdir()}
    # snapshots every 0.008 kimg: named to the image (000000.016 = 16 images), only the last state kept
    assert {"reals.png", "fakes_init.png", "stats.jsonl", "network-snapshot-000000.004.safetensors",
            "network-snapshot-000000.012.json", "network-snapshot-000000.016.safetensors",
            "network-snapshot-000000.016.json", "training-state-000000.016.json"} <= names
    assert not {"training-state-000000.004.json", "training-state-000000.012.json"} & names
    stats = [json.loads(line) for line in (run_dir / "stats.jsonl").read_text().splitlines()]
    assert [line["Progress/tick"]["mean"] for line in stats] == [0, 1, 2]
    assert [line["Progress/kimg"]["mean"] for line in stats] == pytest.approx([0.004, 0.012, 0.016])
    for key in ("Loss/G/loss", "Loss/D/loss", "Loss/r1_penalty", "Loss/pl_penalty"):  # all phases ran at tick 0
        assert stats[0][key]["n"] > 0 and np.isfinite(stats[0][key]["mean"]), key
    assert "Loss/r1_penalty" not in stats[2]  # minibatch 3 is not a lazy-regularization step (interval 2)
    loaded = load_checkpoint(latest_snapshot(run_dir))
    assert loaded.class_names == ["class0", "class1", "class2"] and loaded.cur_nimg == 16
    assert any(name.startswith("events.out.tfevents") for name in names)


def test_progress_grids_have_one_row_per_class(tiny_dataset, tmp_path):
    from PIL import Image

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    training_loop(tiny_options(tiny_dataset), run_dir, max_steps=1)
    reals = np.asarray(Image.open(run_dir / "reals.png"))
    fakes = np.asarray(Image.open(run_dir / "fakes000000.png"))
    assert reals.shape == fakes.shape and reals.shape[0] == 3 * 16  # 3 classes of 16 px tiles
    # the tiny dataset paints class k in colour channel k: row k of the reals must be dominated by it
    for row in range(3):
        band = reals[row * 16:(row + 1) * 16].reshape(-1, 3).astype(float).mean(axis=0)
        assert int(np.argmax(band)) == row, (row, band)
def augment_options(mode: str) -> AugmentOptions:
    """noaug; a fixed p = 0.5 (every augmentation draws random numbers); ADA moving p by 0.2 every 2
    minibatches (in the tiny run: up, down, up, so p is 0.2 across a resume after minibatch 3); or ADA
    adjusting once, at minibatch 4, by 0.4 from the signs of minibatches 1-4 (a resume after minibatch 3
    must carry minibatch 3's signs: without them the mean drops from 0.083 to -0.5 and p stays 0)."""
    return {"noaug": AugmentOptions(mode="noaug", target=None),
            "fixed": AugmentOptions(mode="fixed", p=0.5, target=None),
            "ada": AugmentOptions(mode="ada", target=0.3, interval=2, speed_kimg=0.04),
            "ada_slow": AugmentOptions(mode="ada", target=0.0, interval=4, speed_kimg=0.04)}[mode]


def augment_p(snapshot) -> float | None:
    tensors = load_checkpoint(snapshot).extra_tensors.get("augment_pipe")
    return None if tensors is None else float(tensors["p"])


def stats_lines(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "stats.jsonl").read_text().splitlines()]


def augment_history(run_dir) -> list[float]:
    """The augment p of every tick in stats.jsonl."""
    lines = (run_dir / "stats.jsonl").read_text().splitlines()
    return [json.loads(line)["Progress/augment"]["mean"] for line in lines]


@pytest.mark.parametrize("aug", ["noaug", "fixed", "ada", "ada_slow"])
def test_resume_continues_exactly(tiny_dataset, tmp_path, aug):
    """6 minibatches == 3 + snapshot + resume + 3: G, D, G_ema and the augment p, bit for bit. The split
    falls mid-tick and, under ADA, mid-interval (the unreported signs of minibatch 3 carry over)."""
    straight, split = tmp_path / "straight", tmp_path / "split"
    straight.mkdir()
    split.mkdir()
    training_loop(tiny_options(tiny_dataset, augment=augment_options(aug)), straight, max_steps=6)
    training_loop(tiny_options(tiny_dataset, augment=augment_options(aug)), split, max_steps=3)
    p_at_split = augment_p(latest_snapshot(split))
    resumed = tiny_options(tiny_dataset, augment=augment_options(aug), resume=str(latest_snapshot(split)))
    progress = training_loop(resumed, split, max_steps=3)
    assert progress.batch_idx == 6 and progress.cur_nimg == 24
    a, b = final_weights(straight), final_weights(split)
    assert a.keys() == b.keys() and {key.split(".")[0] for key in a} == {"G", "D", "G_ema"}
    for key in a:
        assert torch.equal(a[key], b[key]), key
    p_straight, p_split = augment_p(latest_snapshot(straight)), augment_p(latest_snapshot(split))
    assert p_straight == p_split
    if aug == "noaug":
        assert p_straight is None
    elif aug == "fixed":
        assert p_at_split == p_straight == 0.5
    elif aug == "ada":  # ADA moved p, and augmentation was on across the resume
        assert p_at_split == pytest.approx(0.2) and p_straight == pytest.approx(0.2)
    else:  # ADA raised p after the resume, from signs gathered on both sides of it
        assert p_at_split == 0 and p_straight == pytest.approx(0.4)


def test_resume_from_a_reference_pickle_starts_from_its_weights(tiny_dataset, tmp_path):
    """A reference .pkl gives weights only. With lr 0 the Adam steps leave G and D as they are, and with
    a half-life of one minibatch (no ramp-up) G_ema becomes the midpoint of the pickle's G and G_ema:
    after one minibatch, each network shows the pickle's weights (none the seed's own init)."""
    from tests.io.reference_snapshot import write_snapshot

    changes = dict(lrate=0.0, ema_kimg=0.004, ema_rampup=None)  # batch 4 = 0.004 kimg: beta = 0.5
    opts = tiny_options(tiny_dataset, **changes)
    nets = {}
    for seed, name, cls, kwargs in ((123, "G", Generator, opts.G_kwargs), (124, "D", Discriminator, opts.D_kwargs),
                                    (125, "G_ema", Generator, opts.G_kwargs)):
        torch.manual_seed(seed)  # unlike the run's own seed-0 initialisation
        nets[name] = cls(**kwargs).eval()
    pkl = write_snapshot(tmp_path / "network-snapshot-000200.pkl", **nets)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    progress = training_loop(tiny_options(tiny_dataset, resume=str(pkl), **changes), run_dir, max_steps=1)
    assert progress.cur_nimg == 4 and progress.batch_idx == 1  # counters start fresh, as the reference
    loaded = load_checkpoint(latest_snapshot(run_dir)).networks
    got = {name: dict(net.named_parameters()) for name, net in loaded.items()}
    source = {name: dict(net.named_parameters()) for name, net in nets.items()}
    for name in ("G", "D"):
        assert got[name].keys() == source[name].keys()
        for key, value in source[name].items():
            assert torch.equal(got[name][key], value), (name, key)
    for key, value in source["G_ema"].items():
        a, b = source["G"][key].double(), value.double()
        error = (got["G_ema"][key].double() - (a + b) / 2).abs()
        assert bool((error <= 1e-6 * (a.abs() + b.abs()) + 1e-7).all()), key  # float32 rounding of the lerp
    torch.manual_seed(opts.random_seed)
    fresh = Generator(**opts.G_kwargs)
    assert not torch.equal(got["G"]["mapping.fc0.weight"], fresh.mapping.fc0.weight)


@pytest.mark.parametrize("aug", ["fixed", "ada"])  # noaug runs the same code minus the augment pipe
def test_two_processes_match_one_process_with_accumulation(tiny_dataset, tmp_path, aug):
    """2 gloo processes x batch 2 == 1 process accumulating 2 chunks of 2 (same total batch 4), with
    augmentation drawing per-chunk random numbers, and under ADA the processes pooling D's signs."""
    one, two = tmp_path / "one", tmp_path / "two"
    for run_dir, world in ((one, 1), (two, 2)):
        run_dir.mkdir()
        opts = tiny_options(tiny_dataset, batch_gpu=2, num_gpus=world, augment=augment_options(aug))
        (run_dir / "training_options.json").write_text(options_to_json(opts))
    # Stop after 2 ticks via total_kimg: 4 minibatches of 4 images.
    for run_dir in (one, two):
        data = json.loads((run_dir / "training_options.json").read_text())
        data["total_kimg"] = 0.016
        (run_dir / "training_options.json").write_text(json.dumps(data))
    launch(prepare=lambda: one, work=train_in_run_folder, processes=1, device_type="cpu")
    launch(prepare=lambda: two, work=train_in_run_folder, processes=2, device_type="cpu")
    a, b = final_weights(one), final_weights(two)
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-5, msg=key)
    history = augment_history(one)
    assert augment_history(two) == history
    # training stats are reduced across the processes: rank 0's stats.jsonl sees the whole batch
    for line_one, line_two in zip(*(stats_lines(run_dir) for run_dir in (one, two)), strict=True):
        for key in ("Loss/G/loss", "Loss/D/loss", "Loss/scores/real"):
            assert line_two[key]["n"] == line_one[key]["n"], key
            assert line_two[key]["mean"] == pytest.approx(line_one[key]["mean"], rel=1e-4, abs=1e-5), key
    if aug == "fixed":
        assert history == [0.5, 0.5, 0.5]
    else:
        assert max(history) > 0  # ADA raised p at some tick


def test_options_round_trip_and_reject_unknown_keys(tiny_dataset):
    opts = tiny_options(tiny_dataset)
    assert options_from_dict(json.loads(options_to_json(opts))) == opts
    data = options_to_dict(opts)
    data["gammma"] = 1
    with pytest.raises(ValueError, match="gammma"):
        options_from_dict(data)


def test_dry_run_prints_options_and_creates_nothing(tiny_dataset, tmp_path):
    result = CliRunner().invoke(train_command, [f"--outdir={tmp_path / 'runs'}", f"--data={tiny_dataset}",
                                               "--cfg=cpu32", "--cond=1", "--metrics=none", "-n"])
    assert result.exit_code == 0, result.output
    assert "Dry run; exiting." in result.output and '"r1_gamma"' in result.output
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("args, message", [
    (["--gpus=3"], "--gpus must be a power of two"),
    (["--aug=fixed"], "--aug=fixed requires specifying --p"),
    (["--p=0.3"], "--p can only be specified with --aug=fixed"),
    (["--metrics=fid9000_nonsense"], "unknown metric"),
    (["--batch=6", "--gpus=4"], "--batch must be at least 1 and divisible by --gpus"),
])
def test_bad_flags_fail_in_one_line(tiny_dataset, tmp_path, args, message):
    result = CliRunner().invoke(train_command, [f"--outdir={tmp_path}", f"--data={tiny_dataset}", "--cfg=cpu32",
                                               "-n", *args])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_cond_needs_labels(tmp_path):
    from tests.stylegan.conftest import write_tiny_dataset

    data = write_tiny_dataset(tmp_path / "unlabelled", labels=False)
    result = CliRunner().invoke(train_command, [f"--outdir={tmp_path}", f"--data={data}", "--cond=1", "-n"])
    assert result.exit_code == 2 and "--cond=True requires labels specified in dataset.json" in result.output


def test_data_workers_are_capped_at_the_usable_cpus(monkeypatch):
    import os

    from thygan.stylegan import minibatches

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert minibatches._usable_workers(3) == 2
    assert minibatches._usable_workers(1) == 1
    assert minibatches._usable_workers(0) == 0
