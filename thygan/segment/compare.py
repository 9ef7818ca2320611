"""Compare HoVer-Net outputs of several image sets, e.g. raw IHC tiles and the same tiles translated to H&E.

The IHC -> H&E study segments an external IHC set twice with one HoVer-Net, once as it is and once after a
CycleGAN made it look like H&E, and asks what the translation changed. Each set is an output folder of
``thygan segment infer tile`` (``json/{name}.json`` + ``mat/{name}.mat``); sets are paired by image name.

What is measured:
- per image: nucleus count (the JSON's nuclei), mean and median area, count per type;
- nucleus area = the pixel count of the nucleus id in the ``.mat`` ``inst_map`` (the pixels the network
  assigned), not the area of the JSON polygon: the contour is simplified by OpenCV and its shoelace area
  leaves out half the boundary pixels, so it under-counts small nuclei by a third or more;
- per pair of sets on their common images: the per-image count difference (second minus first), its
  mean +- sd and paired tests (Wilcoxon signed-rank and paired t, scipy; the shared paired-fold module
  had not landed when this was written), the nucleus-area distributions by a two-sample Kolmogorov-Smirnov
  test (``scipy.stats.ks_2samp``), the type distributions by a chi-square test of homogeneity on the
  2 x types table (``scipy.stats.chi2_contingency``, its defaults: Yates' correction when dof = 1);
- against labels when given: Dice, AJI and PQ per image (thygan.segment.stats, via segment stats' folder
  scoring), with the same paired tests between sets.
"""

import csv
import io
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from thygan.errors import UserError

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


def paired_difference(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """b - a per item: n, mean, sd and the p-values of the Wilcoxon signed-rank and paired t tests.

    p is NaN with fewer than two pairs or when every difference is zero (no test is defined).
    """
    from scipy import stats

    d = np.asarray(b, float) - np.asarray(a, float)
    d = d[np.isfinite(d)]
    out = {"n": len(d), "mean": float(d.mean()) if len(d) else np.nan,
           "sd": float(d.std(ddof=1)) if len(d) > 1 else np.nan, "wilcoxon_p": np.nan, "ttest_p": np.nan}
    if len(d) > 1 and np.any(d != 0):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            out["wilcoxon_p"] = float(stats.wilcoxon(d).pvalue)
            out["ttest_p"] = float(stats.ttest_1samp(d, 0.0).pvalue)
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
                   "count": paired_difference(a.counts(common), b.counts(common)),
                   "ks": ks_areas(a.pooled(common, "areas"), b.pooled(common, "areas")),
                   "chi2": chi_square(type_table(a.pooled(common, "types"), b.pooled(common, "types"), type_ids))}
            if result.truth is not None:
                for metric in TRUTH_METRICS:
                    both = [n for n in common if n in result.truth[a.name] and n in result.truth[b.name]]
                    row[metric] = paired_difference([result.truth[a.name][n][metric] for n in both],
                                                    [result.truth[b.name][n][metric] for n in both])
            result.pairs.append(row)
    return result


def truth_scores(s: SegmentedSet, true_dir: str | Path) -> dict[str, dict]:
    """image -> {dice, aji, pq} of the set's mat/ inst_maps against labels paired by file name."""
    from thygan.segment.evaluate import score_instances

    true_dir = Path(true_dir)
    labels = next((true_dir / sub for sub in ("Labels", "labels") if (true_dir / sub).is_dir()), true_dir)
    _, rows = score_instances(s.folder / "mat", labels, flags=(f"--set {s.name}", "--true"))
    return {r["name"]: {m: r[m] for m in TRUTH_METRICS} for r in rows if r["name"] in s.images}


def _fmt(x: float, digits: int = 2) -> str:
    return "-" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def _p(x: float) -> str:
    return "-" if not np.isfinite(x) else (f"{x:.2g}" if x >= 1e-4 else f"{x:.1e}")


def image_rows(result: Comparison) -> list[dict]:
    """One row per set and image (compare.csv)."""
    rows = []
    for s in result.sets:
        for name, im in sorted(s.images.items()):
            row = {"set": s.name, "image": name, "nuclei": len(im.areas),
                   "area_mean_px": _fmt(float(im.areas.mean()) if len(im.areas) else np.nan),
                   "area_median_px": _fmt(float(np.median(im.areas)) if len(im.areas) else np.nan)}
            row.update({f"type_{n}": int((im.types == t).sum()) for t, n in result.type_names.items()})
            if result.truth is not None:
                scores = result.truth[s.name].get(name, {})
                row.update({m: _fmt(scores.get(m, np.nan), 4) for m in TRUTH_METRICS})
            rows.append(row)
    return rows


def to_csv(result: Comparison) -> str:
    rows = image_rows(result)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


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
             "differences are second set minus first. Paired tests: Wilcoxon signed-rank and paired t (scipy).", "",
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
                  "| first | second | images | count diff / image (mean ± sd) | Wilcoxon p | paired t p | "
                  "area KS D | KS p | types chi² (dof) | chi² p |", "|---|---|---|---|---|---|---|---|---|---|"]
        for r in result.pairs:
            c, k, x = r["count"], r["ks"], r["chi2"]
            dof = "" if not np.isfinite(x["dof"]) else f" ({x['dof']})"
            lines.append(f"| {r['a']} | {r['b']} | {r['images']} | {_fmt(c['mean'])} ± {_fmt(c['sd'])} | "
                         f"{_p(c['wilcoxon_p'])} | {_p(c['ttest_p'])} | {_fmt(k['D'], 3)} | {_p(k['p'])} | "
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
        lines += ["", "| first | second | metric | images | diff (mean ± sd) | Wilcoxon p | paired t p |",
                  "|---|---|---|---|---|---|---|"]
        for r in result.pairs:
            for m in TRUTH_METRICS:
                d = r[m]
                lines.append(f"| {r['a']} | {r['b']} | {m} | {d['n']} | {_fmt(d['mean'], 4)} ± {_fmt(d['sd'], 4)} | "
                             f"{_p(d['wilcoxon_p'])} | {_p(d['ttest_p'])} |")
    return "\n".join(lines) + "\n"


def to_json(result: Comparison) -> str:
    """The summary numbers for pipelines and reports (NaN written as null)."""
    def clean(x):
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
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
