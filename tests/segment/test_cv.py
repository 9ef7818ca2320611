"""`thygan segment-cv`: grouped folds, per-fold scores, the comparison table against scipy, resume, bad input."""

import csv
import json

import numpy as np
import pytest
from PIL import Image
from scipy import stats

from tests.segment.conftest import TINY, disk_instances, render
from tests.segment.test_cli import assert_user_error, run
from thygan.errors import UserError
from thygan.segment import model_scores
from thygan.segment.cv_report import write_comparison
from thygan.segment.data import Sample
from thygan.segment.folds import (
    assign_folds,
    fold_names,
    fold_record,
    image_groups,
    name_group,
    select,
    write_fold_files,
)
from thygan.segment.predict import Maps
from thygan.segment.stats import instance_stats, panoptic_quality

TINY_FLAGS = ["--mode", TINY["mode"], "--width", str(TINY["width"]), "--blocks", "1,1,1,1", "--input-size", "128",
              "--epochs", "1,1", "--batch", "2,2", "--patches-per-epoch", "2", "--nr-types", "3", "--device", "cpu"]


def slide_tiles(root, slides=3, per_slide=2, size=48, seed=0):
    """Images/ + Labels/ of ``slides`` x ``per_slide`` disk tiles named like thygan's tiles (slide_x.._y..)."""
    (root / "Images").mkdir(parents=True)
    (root / "Labels").mkdir()
    rng = np.random.default_rng(seed)
    for s in range(slides):
        for t in range(per_slide):
            inst = disk_instances(size, [tuple(int(v) for v in rng.integers(6, size - 6, 2)) for _ in range(4)])
            name = f"slide{s}_x{t * size}_y0"
            Image.fromarray(render(inst, s * per_slide + t)).save(root / "Images" / f"{name}.png")
            np.save(root / "Labels" / f"{name}.npy", np.stack([inst, (inst > 0) * (1 + inst % 2)], -1))
    return root


@pytest.mark.parametrize("folds,seed", [(2, 0), (3, 1), (5, 7)])
def test_folds_are_a_grouped_partition(folds, seed):
    groups = {f"s{g}_x{t}_y0": f"s{g}" for g in range(7) for t in range(g % 3 + 1)}
    held_out = assign_folds(groups, folds, seed=seed)
    names = [n for fold in held_out for n in fold]
    assert sorted(names) == sorted(groups) and len(names) == len(set(names))      # a partition
    for fold in held_out:                                                           # no slide on two sides
        rest = {groups[n] for other in held_out if other is not fold for n in other}
        assert not {groups[n] for n in fold} & rest
    assert assign_folds(groups, folds, seed=seed) == held_out                       # reproducible
    record = fold_record(0, held_out, groups, data="d", seed=seed)
    assert sorted(record["train"] + record["test"]) == sorted(groups)
    assert not set(record["groups"]["train"]) & set(record["groups"]["test"])


def test_groups_from_names_and_dataset_json(tmp_path):
    assert name_group("CMU-1_x1024_y2048") == "CMU-1"
    assert name_group("slide-7_512_0") == "slide-7"
    assert name_group("TCGA-A7-A13E-01Z-00-DX1") == "TCGA-A7-A13E"
    assert name_group("train_3") == "train_3" and name_group("00042") == "00042"
    (tmp_path / "dataset.json").write_text(json.dumps({"meta": [["Images/a.png", 0, "p1", "x"],
                                                                ["b.png", 1, "p1", "x"]]}))
    assert image_groups(tmp_path, ["a", "b", "c_x0_y0"]) == {"a": "p1", "b": "p1", "c_x0_y0": "c"}
    with pytest.raises(UserError, match="--folds: 3 folds need at least 3 images .* 2 groups"):
        assign_folds({"a": "p1", "b": "p1", "c": "c"}, 3, seed=0)


def test_fold_files_are_kept_and_guarded(tmp_path):
    groups = {f"s{g}": f"s{g}" for g in range(4)}
    records = [fold_record(k, assign_folds(groups, 2, seed=0), groups, data="d", seed=0) for k in range(2)]
    paths = write_fold_files(tmp_path, records)
    assert fold_names(paths[1], "test") == records[1]["test"]
    write_fold_files(tmp_path, records)                                             # same folds: reused
    other = [fold_record(k, assign_folds(groups, 2, seed=5), groups, data="d", seed=5) for k in range(2)]
    if [r["test"] for r in other] != [r["test"] for r in records]:
        with pytest.raises(UserError, match="holds other folds"):
            write_fold_files(tmp_path, other)
    samples = [Sample(n, np.zeros((2, 2, 3), np.uint8), np.zeros((2, 2), np.int32)) for n in groups]
    assert [s.name for s in select(samples, records[0]["train"], where="f")] == records[0]["train"]
    with pytest.raises(UserError, match="f: image zz is not in the data"):
        select(samples, ["zz"], where="f")


def test_model_scores_match_the_stats_functions(monkeypatch):
    """score_model's means equal instance_stats per image and a naive per-type PQ; the network is replaced by
    fixed predictions so only the bookkeeping is tested."""
    rng = np.random.default_rng(2)
    samples, predictions = [], {}
    for k in range(3):
        inst = disk_instances(40, [tuple(int(v) for v in rng.integers(5, 35, 2)) for _ in range(5)])
        types = (inst > 0) * (1 + inst % 2)
        pred = np.roll(inst, k, axis=1)                     # shifted by 0, 1, 2 px
        pred_types = (pred > 0) * (1 + (pred + k) % 2)      # image 1: every type swapped
        samples.append(Sample(f"i{k}", render(inst, k), inst, types, tissue="A" if k < 2 else "B"))
        predictions[f"i{k}"] = (pred, pred_types)

    def fake_segment(net, image, **_):
        name = next(s.name for s in samples if s.image is image)
        pred, pred_types = predictions[name]
        return pred, {}, Maps(np.zeros(pred.shape), np.zeros((2,) + pred.shape), pred_types)

    class Net:
        nr_types = 3

    monkeypatch.setattr(model_scores, "segment_image", fake_segment)
    means, rows = model_scores.score_model(Net(), samples, input_size=128, output_size=36)
    for key in ("pq", "aji", "dice"):
        assert means[key] == pytest.approx(np.mean([instance_stats(s.inst, predictions[s.name][0])[key]
                                                    for s in samples]))
    image_mpq, image_bpq = [], []
    for s in samples:                                        # naive: one map per type, PQ each, mean
        pred, pred_types = predictions[s.name]
        pqs = []
        for t in (1, 2):
            true_t = np.where(np.isin(s.inst, np.unique(s.inst[s.types == t])), s.inst, 0)
            pred_t = np.where(np.isin(pred, np.unique(pred[pred_types == t])), pred, 0)
            if true_t.max():
                pqs.append(panoptic_quality(true_t, pred_t)[2])
        image_mpq.append(np.mean(pqs))
        image_bpq.append(panoptic_quality(s.inst, pred)[2])
    assert means["mPQ"] == pytest.approx(np.mean([np.mean(image_mpq[:2]), image_mpq[2]]))   # tissue A, then B
    assert means["bPQ"] == pytest.approx(np.mean([np.mean(image_bpq[:2]), image_bpq[2]]))
    assert rows[1]["mPQ"] == pytest.approx(0.0) and means["images"] == 3


def test_comparison_table_against_scipy(tmp_path):
    none, mix = [0.50, 0.55, 0.61], [0.58, 0.57, 0.66]
    rows = [{"recipe": r, "set": "cv test", "fold": k, "images": 4, "pq": v, "aji": v - 0.1, "dice": v + 0.2}
            for r, values in (("none", none), ("mix", mix)) for k, v in enumerate(values)]
    rows.append({"recipe": "mix", "set": "cv test", "fold": 3, "images": 4, "pq": 0.9, "aji": 0.8, "dice": 1.0})
    write_comparison(rows, tmp_path)
    summary = {r["recipe"]: r for r in csv.DictReader((tmp_path / "comparison.csv").open())}
    expected = stats.ttest_rel(mix, none)                  # fold 3 has no 'none' run: not paired
    interval = expected.confidence_interval(0.95)
    assert float(summary["mix"]["pq_vs_none_p"]) == pytest.approx(expected.pvalue, rel=1e-9)
    assert float(summary["mix"]["pq_vs_none_diff_high"]) == pytest.approx(interval.high, rel=1e-9)
    assert summary["mix"]["pq_vs_none_n"] == "3" and summary["mix"]["folds"] == "4"
    low, high = stats.t.interval(0.95, 2, loc=np.mean(none), scale=stats.sem(none))
    assert float(summary["none"]["pq_low"]) == pytest.approx(low) and float(summary["none"]["pq_high"]) == \
        pytest.approx(high)
    assert float(summary["mix"]["dice_high"]) == 1.0       # 0.8525 + 0.169 clipped at 1
    table = (tmp_path / "comparison.md").read_text()
    assert f"| mix | cv test | +0.050 [{interval.low:.3f}, {interval.high:.3f}], p {expected.pvalue:.3f}, n 3 |" \
        in table
    assert (tmp_path / "comparison.png").stat().st_size > 0


@pytest.fixture
def recipe(tmp_path):
    """A segmentation recipe: an extra labelled folder translated by a tiny H&E -> H&E generator."""
    import torch

    from thygan.translate.generator_file import save_generator
    from thygan.translate.networks import build_generator

    slide_tiles(tmp_path / "extra", slides=1, per_slide=2, seed=9)
    torch.manual_seed(0)
    network = save_generator(tmp_path / "nets" / "he2he", build_generator("resnet_6blocks", input_nc=3, ngf=4).eval())
    path = tmp_path / "mix.json"
    path.write_text(json.dumps({"sources": [{"kind": "translated", "network": str(network),
                                             "data": str(tmp_path / "extra"), "nr_types": 3}]}))
    return path


@pytest.mark.parametrize("change,fragments", [
    ({"--recipes": "none,missing.json"}, ["--recipes: ", "missing.json: no such"]),
    ({"--folds": "9"}, ["--folds: 9 folds need at least 9 images", "6 images in 3 groups"]),
    ({"--recipes": "none,GAN"}, ["--recipes: ", "yields no masks"]),
    ({"--recipes": "none,none"}, ["--recipes: expected distinct recipe names"]),
    ({"--external": "EXT"}, ["--external: ", "nowhere: no such folder"]),
])
def test_bad_input_is_one_line_before_any_training(tmp_path, change, fragments):
    slide_tiles(tmp_path / "data")
    gan = tmp_path / "gan.json"
    gan.write_text(json.dumps({"classes": [0], "seeds": ["0-3"], "network": ["g.pkl"], "class_map": [0]}))
    flags = {"--recipes": "none", "--folds": "2"} | change
    flags = {k: v.replace("GAN", str(gan)).replace("EXT", str(tmp_path / "nowhere")) for k, v in flags.items()}
    args = ["segment-cv", "--data", str(tmp_path / "data"), "--outdir", str(tmp_path / "out"), *TINY_FLAGS]
    result = run(args + [item for pair in flags.items() for item in pair])
    assert_user_error(result, *fragments)
    assert not (tmp_path / "out").exists()


def test_dry_run_prints_the_plan(tmp_path, recipe):
    slide_tiles(tmp_path / "data")
    result = run(["segment-cv", "--data", str(tmp_path / "data"), "--outdir", str(tmp_path / "out"), "--folds", "3",
                  "--recipes", f"none,{recipe}", *TINY_FLAGS, "-n"])
    assert result.exit_code == 0, result.output
    assert "6 images in 3 groups (slide/patient), 3 folds" in result.output
    assert result.output.count("train 4 images (2 groups), test 2 images (1 groups)") == 3
    assert "recipe mix: " in result.output and "synthetic pairs per fold 2, 2, 2" in result.output
    assert "6 trainings of 1+1 epochs" in result.output and not (tmp_path / "out").exists()
    assert "warning" not in result.output
    inside = json.loads(recipe.read_text())                 # a recipe translating --data itself: warned
    inside["sources"][0]["data"] = str(tmp_path / "data")
    recipe.write_text(json.dumps(inside))
    result = run(["segment-cv", "--data", str(tmp_path / "data"), "--outdir", str(tmp_path / "out"), "--folds", "3",
                  "--recipes", f"none,{recipe}", *TINY_FLAGS, "-n"])
    assert result.exit_code == 0 and "warning: " in result.output and "reads its 'data' from --data" in result.output
    assert "MSGE kernels reference" in result.output


def test_msge_kernel_reaches_every_fold_training(tmp_path, recipe):
    from thygan.segment.cv import fold_options, plan_cv
    from thygan.segment.training_loop import SegmentOptions

    slide_tiles(tmp_path / "data")
    result = run(["segment-cv", "--data", str(tmp_path / "data"), "--outdir", str(tmp_path / "out"), "--folds", "3",
                  *TINY_FLAGS, "--msge-kernel", "monai", "-n"])
    assert result.exit_code == 0 and "MSGE kernels monai" in result.output, result.output
    base = SegmentOptions(data=str(tmp_path / "data"), mode="fast", width=TINY["width"], blocks=[1, 1, 1, 1],
                          input_size=128, epochs=[1, 1], batch=[2, 2], nr_types=3, device="cpu", msge_kernel="monai")
    plan = plan_cv(base, folds=3, recipes=["none"], external=None)
    fold_file = write_fold_files(tmp_path / "folds", plan.folds)[0]
    assert fold_options(plan, "none", fold_file, tmp_path / "run", tmp_path / "cache").msge_kernel == "monai"


@pytest.mark.slow
def test_cli_end_to_end_resumes_and_skips_done_work(tmp_path, recipe):
    from thygan.segment.cv import ExternalSet, fold_options, plan_cv
    from thygan.segment.training_loop import SegmentOptions, launch_training

    data = slide_tiles(tmp_path / "data", slides=2)
    out = tmp_path / "out"
    args = ["segment-cv", "--data", str(data), "--outdir", str(out), "--folds", "2", "--recipes",
            f"none,{recipe}", "--external", str(tmp_path / "extra"), "--external-name", "extra", *TINY_FLAGS]
    # an interrupted training of fold 0 (none): one epoch of two, made with the options segment-cv uses
    base = SegmentOptions(data=str(data), mode="fast", width=TINY["width"], blocks=[1, 1, 1, 1], input_size=128,
                          epochs=[1, 1], batch=[2, 2], patches_per_epoch=2, nr_types=3, device="cpu")
    plan = plan_cv(base, folds=2, recipes=["none", str(recipe)], external=ExternalSet("extra", str(tmp_path / "extra")))
    fold_file = write_fold_files(out / "folds", plan.folds)[0]
    launch_training(fold_options(plan, "none", fold_file, out / "none" / "fold0", out / "synthetic_cache"),
                    stop_after_epochs=1, verbose=False)

    result = run(args)
    assert result.exit_code == 0, result.output
    assert "none/fold0/00000-hovernet: resuming after epoch 1 of 2" in result.output
    for name in ("none", "mix"):
        for k in (0, 1):
            saved = json.loads((out / name / f"fold{k}" / "result.json").read_text())
            assert set(saved["sets"]) == {"cv test", "extra"}
            assert saved["sets"]["cv test"]["scores"]["images"] == 2 and "mPQ" in saved["sets"]["extra"]["scores"]
            options = json.loads((out / name / f"fold{k}" / "00000-hovernet" / "options.json").read_text())
            assert options["train_fold"] == str(out / "folds" / f"fold{k}.json")
    assert "recipe mix: 2 synthetic training images added to 2 real ones" in \
        (out / "mix" / "fold1" / "00000-hovernet" / "log.txt").read_text()
    table = (out / "comparison.md").read_text()
    assert table.count("| none | cv test | 2 |") == 1 and table.count("| mix | extra | 2 |") == 1
    paired = table[table.index("Paired against 'none'"):]
    assert paired.count(", n 2 |") >= 2 and "| none |" not in paired
    assert len((out / "comparison_folds.csv").read_text().splitlines()) == 1 + 2 * 2 * 2
    assert (out / "comparison.png").stat().st_size > 0
    stamp = (out / "mix" / "fold1" / "result.json").stat().st_mtime_ns
    again = run(args)                                         # everything done: nothing trains or scores again
    assert again.exit_code == 0 and again.output.count("done already") == 4
    assert (out / "mix" / "fold1" / "result.json").stat().st_mtime_ns == stamp
    other = run([a if a != "0.125" else "0.25" for a in args])  # another width: finished results not reused
    assert_user_error(other, "--outdir: ", "was trained with other options")
