"""Compare HoVer-Net outputs of several image sets, e.g. raw IHC tiles and the same tiles translated to H&E.

The IHC -> H&E study segments an external IHC set twice with one HoVer-Net, once as it is and once after a
CycleGAN made it look like H&E, and asks what the translation changed. Each set is an output folder of
``thygan segment infer tile`` (``json/{name}.json`` + ``mat/{name}.mat``); sets are paired by image name.

What is measured:
- per image: nucleus count (the JSON's nuclei), mean and median area, count per type;
- nucleus area = the pixel count of the nucleus id in the ``.mat`` ``inst_map`` (the pixels the network
  assigned), not the area of the JSON polygon: the contour runs through the boundary pixels' centres, so
  its shoelace area leaves out about half of each boundary pixel (31% too small for a disk of radius 3 px,
  19% at 5 px, 8% at 12 px);
- per pair of sets on their common images: the per-image count difference (second minus first), its
  mean +- sd with its 95% t-interval, the paired t-test of thygan.metrics.paired_folds (the one dlc-cv and
  segment-cv use) and the Wilcoxon signed-rank test (scipy), the nucleus-area distributions by a two-sample
  Kolmogorov-Smirnov test (``scipy.stats.ks_2samp``), the type distributions by a chi-square test of
  homogeneity on the 2 x types table (``scipy.stats.chi2_contingency``, its defaults: Yates' correction when dof = 1);
- against labels when given: Dice, AJI and PQ per image (thygan.segment.stats, via segment stats' folder
  scoring), with the same paired tests between sets.
"""

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from thygan.errors import UserError
from thygan.io.tables import csv_text

TRUTH_METRICS = ("dice", "aji", "pq")


@dataclass
class ImageNuclei:
    """The nuclei of one image. areas: [N] int px; types: [N] int (-1 = untyped model)."""

    areas: np.ndarray
    types: np.ndarray


@dataclass
class SegmentedSet:
    """One ``segment infer tile`` output folder, read: image name -> its nuclei."""

    name: str
    folder: Path
    images: dict[str, ImageNuclei] = field(default_factory=dict)

    def counts(self, names: list[str]) -> np.ndarray:
        return np.array([len(self.images[n].areas) for n in names], float)

    def pooled(self, names: list[str], what: str) -> np.ndarray:
        parts = [getattr(self.images[n], what) for n in names]
        return np.concatenate(parts) if parts else np.zeros(0, int)


def parse_set(text: str) -> tuple[str, Path]:
    """``NAME=DIR`` -> (name, folder)."""
    name, sep, folder = text.partition("=")
    if not sep or not name.strip() or not folder.strip():
        raise UserError(f"--set: expected NAME=DIR (an output folder of `thygan segment infer tile`), got '{text}'")
    return name.strip(), Path(folder.strip())


def read_set(name: str, folder: str | Path) -> SegmentedSet:
    """Read json/*.json (nuclei, types) and mat/*.mat (inst_map, for areas) of one inference output folder."""
    import scipy.io

    folder = Path(folder)
    where = f"--set {name}={folder}"
    if not (folder / "json").is_dir():
        raise UserError(f"{where}: no json/ folder (expected an output folder of `thygan segment infer tile`)")
    paths = sorted((folder / "json").glob("*.json"))
    if not paths:
        raise UserError(f"{where}: json/ holds no .json files")
    out = SegmentedSet(name, folder)
    for path in paths:
        try:
            nuc = json.loads(path.read_text(encoding="utf-8"))["nuc"]
            ids = np.array([int(k) for k in nuc], np.int64)
            types = np.array([-1 if v.get("type") is None else int(v["type"]) for v in nuc.values()], np.int64)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise UserError(f"{path}: not a segment infer JSON with a 'nuc' dict of nuclei ({exc})") from None
        mat_path = folder / "mat" / f"{path.stem}.mat"
        try:
            inst = scipy.io.loadmat(str(mat_path))["inst_map"]
        except Exception as exc:  # missing file, damaged file, no inst_map: one line for each
            raise UserError(f"{mat_path}: needed for the nucleus areas, not a readable .mat with inst_map "
                            f"({exc})") from None
        pixels = np.bincount(inst.ravel().astype(np.int64), minlength=int(ids.max(initial=0)) + 1)
        areas = pixels[ids] if len(ids) else np.zeros(0, np.int64)
        if len(ids) and areas.min() == 0:
            raise UserError(f"{path}: nucleus {ids[areas == 0][0]} has no pixel in {mat_path} (json and mat "
                            f"from different runs?)")
        out.images[path.stem] = ImageNuclei(areas=areas, types=types)
    return out


def paired_difference(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    """b - a over the items (image names) both have a finite value for: n, mean, sd, 95% t-interval of the
    mean, the paired t-test (thygan.metrics.paired_folds, as dlc-cv and segment-cv) and the Wilcoxon
    signed-rank test (scipy; counts are small integers, rarely normal). NaN where a test is undefined."""
    from scipy import stats

    from thygan.metrics.paired_folds import paired_test

    t = paired_test(b, a)
    names = sorted(k for k in set(a) & set(b) if np.isfinite(a[k]) and np.isfinite(b[k]))
    d = np.array([b[k] - a[k] for k in names], float)
    nan = float("nan")
    out = {"n": len(d), "mean": float(d.mean()) if len(d) else nan, "sd": float(d.std(ddof=1)) if len(d) > 1 else nan,
           "low": nan if t.low is None else t.low, "high": nan if t.high is None else t.high,
           "ttest_p": nan if t.p is None else t.p, "wilcoxon_p": nan}
    if len(d) > 1 and np.any(d != 0):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            out["wilcoxon_p"] = float(stats.wilcoxon(d).pvalue)
    return out


def type_table(a: np.ndarray, b: np.ndarray, type_ids: list[int]) -> np.ndarray:
    """[2, T] nucleus counts per type of two pooled type arrays."""
    return np.array([[int((x == t).sum()) for t in type_ids] for x in (a, b)])


def chi_square(table: np.ndarray) -> dict[str, float]:
    """Chi-square homogeneity test of a [2, T] count table (types empty in both dropped); NaN if undefined."""
    from scipy import stats

    table = table[:, table.sum(0) > 0]
    if table.shape[1] < 2 or (table.sum(1) == 0).any():
        return {"chi2": np.nan, "dof": np.nan, "p": np.nan}
    res = stats.chi2_contingency(table)
    return {"chi2": float(res.statistic), "dof": int(res.dof), "p": float(res.pvalue)}


def ks_areas(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    from scipy import stats

    if len(a) == 0 or len(b) == 0:
        return {"D": np.nan, "p": np.nan}
    res = stats.ks_2samp(a, b)
    return {"D": float(res.statistic), "p": float(res.pvalue)}


@dataclass
class Comparison:
    sets: list[SegmentedSet]
    type_names: dict[int, str]                   # type id -> name (empty for untyped models)
    pairs: list[dict] = field(default_factory=list)
    truth: dict[str, dict[str, dict]] | None = None  # set -> image -> {dice, aji, pq}

    def common(self, a: SegmentedSet, b: SegmentedSet) -> list[str]:
        return sorted(set(a.images) & set(b.images))


def type_names_of(sets: list[SegmentedSet], type_info: dict | None) -> dict[int, str]:
    ids = sorted({int(t) for s in sets for im in s.images.values() for t in im.types if t >= 0})
    return {t: (type_info[str(t)][0] if type_info and str(t) in type_info else f"type {t}") for t in ids}


def compare_sets(sets: list[SegmentedSet], *, true_dir: str | Path | None = None,
                 type_info: dict | None = None) -> Comparison:
    """Pairwise statistics of every pair of sets on their common images, and truth scores when given."""
    names = [s.name for s in sets]
    if len(set(names)) != len(names):
        raise UserError(f"--set: names must differ, got {', '.join(names)}")
    result = Comparison(sets, type_names_of(sets, type_info))
    if true_dir is not None:
        result.truth = {s.name: truth_scores(s, true_dir) for s in sets}
    type_ids = list(result.type_names)
    for i, a in enumerate(sets):
        for b in sets[i + 1:]:
            common = result.common(a, b)
            if not common:
                raise UserError(f"--set {b.name}={b.folder}: no image name in common with --set {a.name}={a.folder}")
            row = {"a": a.name, "b": b.name, "images": len(common),
                   "count": paired_difference(dict(zip(common, a.counts(common))),
                                              dict(zip(common, b.counts(common)))),
                   "ks": ks_areas(a.pooled(common, "areas"), b.pooled(common, "areas")),
                   "chi2": chi_square(type_table(a.pooled(common, "types"), b.pooled(common, "types"), type_ids))}
            if result.truth is not None:
                for metric in TRUTH_METRICS:
                    row[metric] = paired_difference(*({n: r[metric] for n, r in result.truth[x.name].items()}
                                                      for x in (a, b)))
            result.pairs.append(row)
    return result


def truth_scores(s: SegmentedSet, true_dir: str | Path) -> dict[str, dict]:
    """image -> {dice, aji, pq} of the set's mat/ inst_maps against labels paired by file name."""
    from thygan.segment.evaluate import score_instances

    true_dir = Path(true_dir)
    labels = next((true_dir / sub for sub in ("Labels", "labels") if (true_dir / sub).is_dir()), true_dir)
    _, rows = score_instances(s.folder / "mat", labels, flags=(f"--set {s.name}", "--true"))
    return {r["name"]: {m: r[m] for m in TRUTH_METRICS} for r in rows if r["name"] in s.images}


def _fmt(x: float, digits: int = 2, missing: str = "-") -> str:
    return missing if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def _p(x: float) -> str:
    return "-" if not np.isfinite(x) else (f"{x:.2g}" if x >= 1e-4 else f"{x:.1e}")


def _diff(d: dict, digits: int = 2) -> str:
    """'+0.50 ± 2.12 [-18.56, 19.56]' of a paired_difference."""
    if not np.isfinite(d["mean"]):
        return "-"
    return f"{d['mean']:+.{digits}f} ± {_fmt(d['sd'], digits)} [{_fmt(d['low'], digits)}, {_fmt(d['high'], digits)}]"


def image_rows(result: Comparison) -> list[dict]:
    """One row per set and image (compare.csv; an undefined value is an empty field)."""
    rows = []
    for s in result.sets:
        for name, im in sorted(s.images.items()):
            row = {"set": s.name, "image": name, "nuclei": len(im.areas),
                   "area_mean_px": _fmt(float(im.areas.mean()) if len(im.areas) else np.nan, missing=""),
                   "area_median_px": _fmt(float(np.median(im.areas)) if len(im.areas) else np.nan, missing="")}
            row.update({"n_" + n.replace(" ", "_"): int((im.types == t).sum()) for t, n in result.type_names.items()})
            if result.truth is not None:
                scores = result.truth[s.name].get(name, {})
                row.update({m: _fmt(scores.get(m, np.nan), 4, missing="") for m in TRUTH_METRICS})
            rows.append(row)
    return rows


def to_csv(result: Comparison) -> str:
    return csv_text(image_rows(result))


def set_summary(s: SegmentedSet, type_names: dict[int, str]) -> dict:
    names = sorted(s.images)
    counts, areas, types = s.counts(names), s.pooled(names, "areas"), s.pooled(names, "types")
    q1, med, q3 = np.percentile(areas, [25, 50, 75]) if len(areas) else (np.nan,) * 3
    return {"images": len(names), "nuclei": int(counts.sum()), "per_image_mean": float(counts.mean()),
            "per_image_sd": float(counts.std(ddof=1)) if len(counts) > 1 else np.nan,
            "area_median": float(med), "area_q1": float(q1), "area_q3": float(q3),
            "types": {n: int((types == t).sum()) for t, n in type_names.items()}}


def to_markdown(result: Comparison) -> str:
    lines = ["# Segmentation compared across sets", "",
             "Nucleus area = pixels of the nucleus in mat/ inst_map. Pairwise rows use the images both sets have;",
             "differences are second set minus first, mean ± sd [95% t-interval]; paired t-test",
             "(thygan.metrics.paired_folds) and Wilcoxon signed-rank (scipy). KS: two-sample Kolmogorov-Smirnov",
             "on nucleus areas; chi²: homogeneity of the type counts (scipy.stats.chi2_contingency).", "",
             "## Per set", "", "| set | images | nuclei | nuclei / image (mean ± sd) | area px median [IQR] | types |",
             "|---|---|---|---|---|---|"]
    for s in result.sets:
        m = set_summary(s, result.type_names)
        total = max(sum(m["types"].values()), 1)
        types = ", ".join(f"{n} {100 * c / total:.0f}%" for n, c in m["types"].items()) or "untyped"
        lines.append(f"| {s.name} | {m['images']} | {m['nuclei']} | {_fmt(m['per_image_mean'], 1)} ± "
                     f"{_fmt(m['per_image_sd'], 1)} | {_fmt(m['area_median'], 0)} [{_fmt(m['area_q1'], 0)}, "
                     f"{_fmt(m['area_q3'], 0)}] | {types} |")
    if result.pairs:
        lines += ["", "## Between sets (same images)", "",
                  "| first | second | images | nuclei / image, diff | paired t p | Wilcoxon p | "
                  "area KS D | KS p | types chi² (dof) | chi² p |", "|---|---|---|---|---|---|---|---|---|---|"]
        for r in result.pairs:
            c, k, x = r["count"], r["ks"], r["chi2"]
            dof = "" if not np.isfinite(x["dof"]) else f" ({x['dof']})"
            lines.append(f"| {r['a']} | {r['b']} | {r['images']} | {_diff(c)} | {_p(c['ttest_p'])} | "
                         f"{_p(c['wilcoxon_p'])} | {_fmt(k['D'], 3)} | {_p(k['p'])} | "
                         f"{_fmt(x['chi2'])}{dof} | {_p(x['p'])} |")
    if result.truth is not None:
        lines += ["", "## Against the labels", "", "| set | images | " + " | ".join(TRUTH_METRICS) + " |",
                  "|---|---|" + "---|" * len(TRUTH_METRICS)]
        for s in result.sets:
            rows = result.truth[s.name]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                means = [_fmt(float(np.nanmean([r[m] for r in rows.values()])), 4) for m in TRUTH_METRICS]
            lines.append(f"| {s.name} | {len(rows)} | " + " | ".join(means) + " |")
        lines += ["", "| first | second | metric | images | diff | paired t p | Wilcoxon p |",
                  "|---|---|---|---|---|---|---|"]
        for r in result.pairs:
            for m in TRUTH_METRICS:
                d = r[m]
                lines.append(f"| {r['a']} | {r['b']} | {m} | {d['n']} | {_diff(d, 4)} | {_p(d['ttest_p'])} | "
                             f"{_p(d['wilcoxon_p'])} |")
    return "\n".join(lines) + "\n"


def to_json(result: Comparison) -> str:
    """The summary numbers for pipelines and reports (NaN written as null)."""
    def clean(x):
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        if isinstance(x, list):
            return [clean(v) for v in x]
        if isinstance(x, float | np.floating):
            return float(x) if np.isfinite(x) else None
        return x

    record = {"sets": {s.name: {"folder": str(s.folder), **set_summary(s, result.type_names)} for s in result.sets},
              "pairs": result.pairs, "truth_means": None}
    if result.truth is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            record["truth_means"] = {s: {m: float(np.nanmean([r[m] for r in rows.values()])) for m in TRUTH_METRICS}
                                     for s, rows in result.truth.items()}
    return json.dumps(clean(record), indent=2) + "\n"
