"""`thygan segment compare`: counts, areas and tests against hand computations and scipy; pairing; errors."""

import csv
import json

import numpy as np
import pytest
import scipy.io
from click.testing import CliRunner
from PIL import Image
from scipy import stats

from thygan.cli.main import cli
from thygan.errors import UserError
from thygan.segment.compare import compare_sets, read_set, set_summary, to_csv


def write_output(folder, images):
    """A hand-made `segment infer tile` output: images = {name: (inst_map [H, W], {id: type or None})}.

    The JSON contour of every nucleus is a 3 x 3 square whatever its real shape, so an area taken from the
    contour (4 px by the shoelace formula) would differ from the inst_map pixel count the tests expect."""
    for sub in ("json", "mat", "overlay"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    for name, (inst, types) in images.items():
        nuc = {str(i): {"bbox": [[0, 0], [3, 3]], "centroid": [1.0, 1.0], "contour": [[0, 0], [2, 0], [2, 2], [0, 2]],
                        "type": t, "type_prob": None if t is None else 0.9} for i, t in types.items()}
        (folder / "json" / f"{name}.json").write_text(json.dumps({"mag": None, "nuc": nuc}))
        scipy.io.savemat(folder / "mat" / f"{name}.mat", {"inst_map": inst.astype(np.int32)})
        Image.fromarray(np.full(inst.shape + (3,), 200, np.uint8)).save(folder / "overlay" / f"{name}.png")
    return folder


def blocks(size, boxes):
    """Instance map with rectangles (r0, c0, r1, c1) as ids 1, 2, ..."""
    inst = np.zeros((size, size), np.int32)
    for k, (r0, c0, r1, c1) in enumerate(boxes, start=1):
        inst[r0:r1, c0:c1] = k
    return inst


@pytest.fixture
def two_sets(tmp_path):
    # image a: 3x4 = 12 px and 5x5 = 25 px; image b: 2x2 = 4 px. Second set: a has 6x6 = 36 px only.
    raw = write_output(tmp_path / "raw", {
        "a": (blocks(16, [(0, 0, 3, 4), (8, 8, 13, 13)]), {1: 1, 2: 2}),
        "b": (blocks(16, [(1, 1, 3, 3)]), {1: 2})})
    fake = write_output(tmp_path / "fake", {
        "a": (blocks(16, [(2, 2, 8, 8)]), {1: 1}),
        "b": (blocks(16, [(0, 0, 1, 7), (4, 4, 7, 7), (9, 9, 12, 11)]), {1: 1, 2: 1, 3: 2})})
    return raw, fake


def test_counts_and_areas_are_inst_map_pixels(two_sets):
    raw = read_set("raw", two_sets[0])
    assert raw.images["a"].areas.tolist() == [12, 25] and raw.images["b"].areas.tolist() == [4]
    assert raw.images["a"].types.tolist() == [1, 2]
    summary = set_summary(raw, {1: "t1", 2: "t2"})
    assert summary["nuclei"] == 3 and summary["per_image_mean"] == 1.5
    assert summary["per_image_sd"] == pytest.approx(np.sqrt(0.5))       # counts 2 and 1
    assert summary["area_median"] == 12                                   # areas 4, 12, 25
    assert (summary["area_q1"], summary["area_q3"]) == (8, 18.5)          # linear interpolation by hand
    assert summary["types"] == {"t1": 1, "t2": 2}
    lines = to_csv(compare_sets([raw], type_info={"1": ["neo", [0, 0, 0]], "2": ["inf", [0, 0, 0]]})).splitlines()
    assert lines[0] == "set,image,nuclei,area_mean_px,area_median_px,n_neo,n_inf"
    assert lines[1:] == ["raw,a,2,18.50,18.50,1,1", "raw,b,1,4.00,4.00,0,1"]


def test_pairwise_tests_equal_scipy(tmp_path):
    rng = np.random.default_rng(0)
    images = {}
    for side in ("first", "second"):
        images[side] = {}
        for k in range(7):
            n = int(rng.integers(1, 9)) + (2 if side == "second" else 0)
            starts = rng.choice(np.arange(0, 60, 6), size=n, replace=False)
            boxes = [(s, s, s + int(rng.integers(1, 6)), s + int(rng.integers(1, 6))) for s in starts]
            images[side][f"im{k}"] = (blocks(64, boxes), {i + 1: int(rng.integers(0, 3)) for i in range(n)})
    a = read_set("A", write_output(tmp_path / "A", images["first"]))
    b = read_set("B", write_output(tmp_path / "B", images["second"]))
    pair = compare_sets([a, b]).pairs[0]
    names = [f"im{k}" for k in range(7)]
    ca = [len(images["first"][n][1]) for n in names]
    cb = [len(images["second"][n][1]) for n in names]
    assert pair["count"]["mean"] == pytest.approx(np.mean(np.subtract(cb, ca)))
    assert pair["count"]["wilcoxon_p"] == pytest.approx(stats.wilcoxon(np.subtract(cb, ca)).pvalue)
    assert pair["count"]["ttest_p"] == pytest.approx(stats.ttest_rel(cb, ca).pvalue)
    # areas pooled by a naive loop over the instance maps
    areas = {s: [int((inst == i).sum()) for n in names for inst, ids in [images[s][n]] for i in ids]
             for s in images}
    ks = stats.ks_2samp(areas["first"], areas["second"])
    assert (pair["ks"]["D"], pair["ks"]["p"]) == (pytest.approx(ks.statistic), pytest.approx(ks.pvalue))
    table = [[sum(t == want for n in names for t in images[s][n][1].values()) for want in (0, 1, 2)] for s in images]
    chi = stats.chi2_contingency(np.array(table))
    assert pair["chi2"]["chi2"] == pytest.approx(chi.statistic) and pair["chi2"]["p"] == pytest.approx(chi.pvalue)
    assert pair["chi2"]["dof"] == 2


def test_only_common_names_are_paired(tmp_path, two_sets):
    extra = write_output(tmp_path / "extra", {
        "b": (blocks(16, [(0, 0, 2, 2), (5, 5, 8, 8)]), {1: 1, 2: 1}),
        "c": (blocks(16, [(0, 0, 4, 4)]), {1: 1})})
    raw = read_set("raw", two_sets[0])
    pair = compare_sets([raw, read_set("extra", extra)]).pairs[0]
    assert pair["images"] == 1 and pair["count"]["mean"] == 1                       # b only: 2 - 1
    assert pair["ks"]["p"] == pytest.approx(stats.ks_2samp([4], [4, 9]).pvalue)
    lonely = write_output(tmp_path / "lonely", {"z": (blocks(16, [(0, 0, 3, 3)]), {1: 1})})
    with pytest.raises(UserError, match="no image name in common"):
        compare_sets([raw, read_set("lonely", lonely)])


def test_json_and_mat_from_different_runs_refused(tmp_path):
    folder = write_output(tmp_path / "s", {"a": (blocks(16, [(0, 0, 3, 3)]), {1: 1, 2: 1})})
    with pytest.raises(UserError, match="nucleus 2 has no pixel"):
        read_set("s", folder)


def one_line_error(result, *fragments):
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert all(f in lines[0] for f in fragments), lines[0]


def test_cli_writes_tables_and_pictures_and_scores_labels(tmp_path, two_sets):
    raw, fake = two_sets
    labels = tmp_path / "labels"
    labels.mkdir()
    np.save(labels / "a.npy", blocks(16, [(0, 0, 3, 4), (8, 8, 13, 13)]))   # raw's a exactly
    out = tmp_path / "cmp"
    result = CliRunner().invoke(cli, ["segment", "compare", f"--set=IHC={raw}", f"--set=IHC->H&E={fake}",
                                      f"--true={labels}", f"--outdir={out}"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["compare.csv", "compare.json", "compare.md", "compare.png",
                                                      "examples.png"]
    record = json.loads((out / "compare.json").read_text(), parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
    assert record["truth_means"]["IHC"] == {"dice": 1.0, "aji": 1.0, "pq": 1.0}
    assert record["truth_means"]["IHC->H&E"]["pq"] == 0.0    # its one nucleus overlaps neither at IoU > 0.5
    assert record["pairs"][0]["count"]["mean"] == 0.5         # (1 - 2 + 3 - 1) / 2
    md = (out / "compare.md").read_text()
    assert "| IHC | IHC->H&E | 2 | +0.50 ± 2.12 [-18.56, 19.56] |" in md and "## Against the labels" in md
    for png in ("compare.png", "examples.png"):
        with Image.open(out / png) as im:
            assert im.size[0] > 300 and im.size[1] > 200


def test_cli_bad_input_is_one_line(tmp_path, two_sets):
    raw, _ = two_sets
    lonely = write_output(tmp_path / "lonely", {"z": (blocks(16, [(0, 0, 3, 3)]), {1: 1})})
    out = tmp_path / "cmp"
    run = CliRunner().invoke
    one_line_error(run(cli, ["segment", "compare", f"--set=a={raw}", f"--set=b={lonely}", f"--outdir={out}"]),
                   "--set b=", "no image name in common with --set a=")
    one_line_error(run(cli, ["segment", "compare", f"--set=a={raw}", f"--set=b={tmp_path}", f"--outdir={out}"]),
                   "--set b=", "no json/ folder")
    one_line_error(run(cli, ["segment", "compare", f"--set={raw}", f"--outdir={out}"]), "--set", "NAME=DIR")
    one_line_error(run(cli, ["segment", "compare", f"--set=a={raw}", f"--set=a={raw}", f"--outdir={out}"]),
                   "names must differ")
    no_mat = write_output(tmp_path / "no_mat", {"a": (blocks(16, [(0, 0, 3, 3)]), {1: 1})})
    (no_mat / "mat" / "a.mat").unlink()
    one_line_error(run(cli, ["segment", "compare", f"--set=a={raw}", f"--set=b={no_mat}", f"--outdir={out}"]),
                   "a.mat", "nucleus areas")
    one_line_error(run(cli, ["segment", "compare", f"--set=a={raw}", f"--true={tmp_path / 'none'}",
                             f"--outdir={out}"]), "--true", "no such folder")
    assert not out.exists()


@pytest.mark.slow
def test_infer_twice_then_compare(tmp_path):
    """The chain on real inference outputs: a tiny random HoVer-Net on two tiles and their colour-inverted
    copies (standing in for translated tiles); compare reads what infer wrote. The NP head is biased to
    'nucleus everywhere' so the random HV maps cut each tile into some instances (a random NP finds none)."""
    import torch

    from tests.segment.conftest import TINY, disk_instances, render
    from thygan.io.checkpoint import save_checkpoint
    from thygan.segment.networks import NETWORKS, HoVerNet

    torch.manual_seed(0)
    net = HoVerNet(nr_types=3, **TINY)
    with torch.no_grad():
        head = net.nucleus_prediction.output_features.decoderblock4.conv
        head.weight.zero_()
        head.bias.copy_(torch.tensor([-4.0, 4.0]))
    model = tmp_path / "model" / "hovernet-snapshot-000001"
    save_checkpoint(model, networks={"net": net}, registry=NETWORKS, extra={"input_size": 128})
    model = model.with_suffix(".safetensors")
    raw, fake = tmp_path / "raw", tmp_path / "fake"
    raw.mkdir()
    fake.mkdir()
    for k in range(2):
        tile = render(disk_instances(40, [(10, 10), (28, 25)], radius=6), seed=k)
        Image.fromarray(tile).save(raw / f"t{k}.png")
        Image.fromarray(255 - tile).save(fake / f"t{k}.png")
    run = CliRunner().invoke
    for folder in (raw, fake):
        result = run(cli, ["segment", "infer", "tile", f"--model={model}", f"--input-dir={folder}",
                           f"--output-dir={folder}_seg", "--device=cpu", "--no-save-qupath"])
        assert result.exit_code == 0, result.output
    out = tmp_path / "cmp"
    result = run(cli, ["segment", "compare", f"--set=IHC={raw}_seg", f"--set=IHC->H&E={fake}_seg", f"--outdir={out}"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader((out / "compare.csv").open()))
    assert [(r["set"], r["image"]) for r in rows] == [("IHC", "t0"), ("IHC", "t1"), ("IHC->H&E", "t0"),
                                                      ("IHC->H&E", "t1")]
    for r in rows:
        folder = tmp_path / ("raw_seg" if r["set"] == "IHC" else "fake_seg")
        nuc = json.loads((folder / "json" / f"{r['image']}.json").read_text())["nuc"]
        inst = scipy.io.loadmat(folder / "mat" / f"{r['image']}.mat")["inst_map"]
        assert int(r["nuclei"]) == len(nuc) == sum(int(v) for k, v in r.items() if k.startswith("n_"))
        if nuc:
            assert float(r["area_mean_px"]) == pytest.approx(np.mean([(inst == int(i)).sum() for i in nuc]), abs=0.005)
        else:
            assert r["area_mean_px"] == r["area_median_px"] == ""   # undefined: an empty field
    assert sum(int(r["nuclei"]) for r in rows) > 0
    assert (out / "examples.png").is_file() and "## Between sets" in (out / "compare.md").read_text()


def test_truth_in_a_labels_subfolder_and_only_segmented_images_scored(tmp_path, two_sets):
    """--true may be a CoNSeP-style folder (Labels/ inside); a label without a segmented image is ignored."""
    gt = tmp_path / "gt" / "Labels"
    gt.mkdir(parents=True)
    np.save(gt / "b.npy", blocks(16, [(1, 1, 3, 3)]))
    np.save(gt / "zzz.npy", blocks(16, [(1, 1, 3, 3)]))
    result = compare_sets([read_set("raw", two_sets[0])], true_dir=tmp_path / "gt")
    assert result.truth == {"raw": {"b": {"dice": 1.0, "aji": 1.0, "pq": 1.0}}}
