"""translate eval (PSNR/SSIM against scikit-image, FID/KID through thygan.metrics), import, sample-masks,
and the one-line errors of the train command."""

import csv
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from tests.metrics.conftest import TinyDetector, script
from tests.translate.conftest import write_images
from tests.translate.test_masks import disc_mask
from tests.translate.test_networks import reference_state
from thygan.cli.translate import translate_command
from thygan.translate.evaluate import psnr_ssim


def test_psnr_ssim_match_skimage_and_hand_psnr():
    rng = np.random.default_rng(0)
    real = rng.integers(0, 256, (24, 20, 3), dtype=np.uint8)
    fake = np.clip(real.astype(int) + rng.integers(-9, 10, real.shape), 0, 255).astype(np.uint8)
    psnr, ssim = psnr_ssim(fake, real)
    mse = np.mean((fake.astype(float) - real) ** 2)
    assert psnr == pytest.approx(10 * np.log10(255 ** 2 / mse))
    assert psnr == pytest.approx(peak_signal_noise_ratio(real, fake, data_range=255))
    per_channel = [structural_similarity(fake[:, :, c], real[:, :, c], data_range=255) for c in range(3)]
    assert ssim == pytest.approx(np.mean(per_channel))  # channel mean, as multichannel=True
    with np.errstate(divide="ignore"):  # identical images: PSNR is infinite
        assert psnr_ssim(real, real) == (np.inf, pytest.approx(1.0))


def test_eval_paired_folders_csv_summary_grid_and_fid_kid(tmp_path):
    real = write_images(tmp_path / "real", 4, size=(32, 32), seed=1)
    (tmp_path / "fake").mkdir()
    scores = []
    for k, path in enumerate(real):
        img = np.asarray(Image.open(path)).astype(int)
        fake = np.clip(img + 4 * (k + 1), 0, 255).astype(np.uint8)
        Image.fromarray(fake).save(tmp_path / "fake" / path.name)
        scores.append(psnr_ssim(fake, img.astype(np.uint8)))
    detector = tmp_path / "det.pt"
    script(TinyDetector()).save(str(detector))
    result = CliRunner().invoke(translate_command, [
        "eval", "--fake", str(tmp_path / "fake"), "--real", str(tmp_path / "real"), "--outdir", str(tmp_path / "ev"),
        "--metrics", "psnr,ssim,fid,kid", "--detector", str(detector), "--device", "cpu"], env={
            "THYGAN_CACHE": str(tmp_path / "cache")})
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "ev" / "summary.json").read_text())
    assert summary["psnr"] == pytest.approx(np.mean([s[0] for s in scores]))
    assert summary["ssim"] == pytest.approx(np.mean([s[1] for s in scores]))
    assert summary["fid4_full"] > 0 and np.isfinite(summary["kid4_full"])
    rows = list(csv.DictReader(open(tmp_path / "ev" / "scores.csv")))
    assert [r["image"] for r in rows] == ["000.png", "001.png", "002.png", "003.png"]
    assert [float(r["psnr"]) for r in rows] == pytest.approx([s[0] for s in scores])
    assert float(rows[0]["psnr"]) > float(rows[3]["psnr"])  # a larger shift scores lower
    grid = Image.open(tmp_path / "ev" / "grid.png")
    assert grid.size == (2 * 192 + 2, 4 * 192 + 6)


def test_eval_reads_reference_result_folders(tmp_path):
    images = tmp_path / "images"
    write_images(images, 2, size=(16, 16), names=["a_fake_B.png", "b_fake_B.png"])
    write_images(images, 2, size=(16, 16), seed=9, names=["a_real_B.png", "b_real_B.png"])
    write_images(images, 1, size=(16, 16), names=["a_real_A.png"])
    result = CliRunner().invoke(translate_command, ["eval", "--fake", str(images), "--outdir", str(tmp_path / "e")])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "e" / "summary.json").read_text())["images"] == 2


def test_eval_size_mismatch_is_one_line(tmp_path):
    write_images(tmp_path / "f", 1, size=(16, 16))
    write_images(tmp_path / "r", 1, size=(16, 18))
    result = CliRunner().invoke(translate_command, ["eval", "--fake", str(tmp_path / "f"), "--real",
                                                    str(tmp_path / "r"), "--outdir", str(tmp_path / "e")])
    assert result.exit_code == 2 and result.output.count("\n") == 1 and "18x16 px but its translation" in result.output
    assert not (tmp_path / "e").exists()


def test_import_cli(tmp_path, reference_layouts):
    file = tmp_path / "latest_net_G.pth"
    torch.save(reference_state(reference_layouts["G_resnet_6blocks_instance_ngf64"]), file)
    result = CliRunner().invoke(translate_command, ["import", "--pth", str(file), "--out", str(tmp_path / "g")])
    assert result.exit_code == 0 and "resnet_6blocks (norm instance)" in result.output
    meta = json.loads((tmp_path / "g.json").read_text())
    assert meta["extra"]["netG"] == "resnet_6blocks" and meta["networks"]["G"]["class"] == "ResnetGenerator"
    result = CliRunner().invoke(translate_command, ["import", "--pth", str(file), "--out", str(tmp_path / "h"),
                                                    "--netG", "unet_256"])
    assert result.exit_code == 2 and result.output.count("\n") == 1 and not (tmp_path / "h.json").exists()


def test_sample_masks_cli(tmp_path):
    (tmp_path / "m").mkdir()
    for s in range(2):
        m = disc_mask(seed=s)
        np.savez(tmp_path / "m" / f"{s}.npz", inst_map=m.inst_map,
                 inst_type=np.array([m.types[k] for k in sorted(m.types)]))
    result = CliRunner().invoke(translate_command, ["sample-masks", "--masks", str(tmp_path / "m"), "--out",
                                                    str(tmp_path / "new"), "--mask_types", "3", "--count", "3",
                                                    "--size", "40"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == [
        f"sample{k:05d}{ext}" for k in range(3) for ext in (".npz", "_preview.jpg")]
    with np.load(tmp_path / "new" / "sample00000.npz") as z:
        assert z["inst_map"].shape == (40, 40) and z["inst_map"].max() == len(z["inst_type"])
        assert set(z["inst_type"]) <= {1, 2, 3}


def test_train_bad_inputs_one_line_exit_2(tmp_path):
    write_images(tmp_path / "d" / "trainA", 2)
    runner = CliRunner()
    result = runner.invoke(translate_command, ["train", "--dataroot", str(tmp_path / "d"), "--outdir",
                                               str(tmp_path / "runs")])
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert "trainB (--dataset_mode unaligned expects trainA/ and trainB/)" in result.output
    assert not (tmp_path / "runs").exists()  # nothing half-written
    write_images(tmp_path / "al" / "train", 1, size=(20, 30))
    result = runner.invoke(translate_command, ["train", "--dataroot", str(tmp_path / "al"), "--model", "pix2pix",
                                               "--outdir", str(tmp_path / "runs"), "--load_size", "8",
                                               "--crop_size", "8", "--ngf", "2", "--ndf", "2", "--netG",
                                               "resnet_6blocks"])
    assert result.exit_code == 2 and "width = 2 x height; got 30x20" in result.output
    assert not (tmp_path / "runs").exists()  # checked before the run folder is made
    result = runner.invoke(translate_command, ["train", "--dataroot", str(tmp_path / "d"), "--load_size", "100"])
    assert result.exit_code == 2 and "--load_size: 100 is smaller than --crop_size 256" in result.output


def test_train_cli_dry_run_then_one_epoch(unaligned_root, tmp_path):
    args = ["train", "--dataroot", str(unaligned_root), "--outdir", str(tmp_path / "runs"), "--ngf", "2",
            "--ndf", "2", "--netG", "resnet_6blocks", "--load_size", "36", "--crop_size", "32", "--n_epochs", "1",
            "--n_epochs_decay", "0", "--device", "cpu"]
    runner = CliRunner()
    result = runner.invoke(translate_command, args + ["--dry-run"])
    assert result.exit_code == 0 and "4 items per epoch" in result.output and not (tmp_path / "runs").exists()
    assert '"pool_size": 50' in result.output and '"no_dropout": true' in result.output  # cycle_gan defaults
    result = runner.invoke(translate_command, args)
    assert result.exit_code == 0, result.output
    run = tmp_path / "runs" / "00000-experiment_name"
    assert (run / "translate-snapshot-000001.safetensors").exists()
    assert json.loads((run / "options.json").read_text())["ngf"] == 2


def test_train_on_masks_with_unknown_type_ids_writes_nothing(tmp_path):
    (tmp_path / "d" / "A").mkdir(parents=True)
    Image.fromarray(np.full((32, 32), 4, np.uint8)).save(tmp_path / "d" / "A" / "x.png")
    write_images(tmp_path / "d" / "B", 1, size=(32, 32), names=["x.png"])
    result = CliRunner().invoke(translate_command, [
        "train", "--dataroot", str(tmp_path / "d"), "--model", "pix2pix", "--dataset_mode", "paired",
        "--mask_types", "3", "--outdir", str(tmp_path / "runs")])
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert "x.png: unknown nucleus type id 4 (expected 0 = background or 1..3" in result.output
    assert not (tmp_path / "runs").exists()
