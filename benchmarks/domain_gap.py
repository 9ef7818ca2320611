"""Seconds for the domain-gap analysis of 2,000 images with 2,048-d features (the Inception's size).

    python benchmarks/domain_gap.py                  # 4 sets x 500, 2 classes each
    python benchmarks/domain_gap.py --cold-jit       # also pay umap-learn's numba compilation

Features are random (speed does not depend on them): four sets shifted apart like source, two
external cohorts and GAN images, two classes each. Everything after embedding runs as
``thygan domain-gap`` runs it (``analyse_embeddings``, then ``draw_domain_gap``): every pairwise gap
overall and per class, the heatmap, UMAP 2-D and 3-D, the PNGs, the HTML and the CSVs.
``--cold-jit`` points numba's cache at an empty folder, which is what a first run on a new install
costs. Prints a markdown table.
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def random_sets(*, images: int, dim: int, sets: int, seed: int = 0) -> list:
    from thygan.gap.embeddings import Embedding

    rng = np.random.RandomState(seed)
    per_set = images // sets
    direction = rng.randn(dim) / np.sqrt(dim)
    embeddings = []
    for index, name in enumerate(["source", "Nikiforov", "TCGA", "GAN", "set5", "set6"][:sets]):
        labels = np.arange(per_set) % 2
        features = rng.randn(per_set, dim) + direction * (3 * index) + np.outer(labels, direction[::-1] * 2)
        items = [f"{name}/{i}" for i in range(per_set)]
        embeddings.append(Embedding(name, features.astype(np.float32), labels, items,
                                    ["Non-PTC-like", "PTC-like"]))
    return embeddings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000, help="images in all")
    parser.add_argument("--dim", type=int, default=2048, help="feature dimensions")
    parser.add_argument("--sets", type=int, default=4, help="number of sets (<= 6)")
    parser.add_argument("--cold-jit", action="store_true",
                        help="compile umap's kernels as a fresh install would")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="thygan-dg-bench-"))
    if args.cold_jit:
        os.environ["NUMBA_CACHE_DIR"] = str(workdir / "numba")  # read when numba is first imported, below

    import torch

    from thygan.gap.analysis import DomainGapOptions, analyse_embeddings
    from thygan.gap.table import gap_rows
    from thygan.gap.umap_fit import fit_umap
    from thygan.viz.gap_plots import draw_domain_gap

    embeddings = random_sets(images=args.images, dim=args.dim, sets=args.sets)
    features = np.concatenate([e.features for e in embeddings])
    opts = DomainGapOptions(extractor="random", progress=False)
    print(f"{args.images} images x {args.dim}-d in {args.sets} sets, {os.cpu_count()} CPUs, "
          f"torch threads {torch.get_num_threads()}, "
          f"numba cache {'cold' if args.cold_jit else 'as installed'}\n")
    print("| stage | seconds |\n|---|---:|")
    timings = []

    def timed(label, fn):
        start = time.perf_counter()
        fn()
        timings.append(time.perf_counter() - start)
        print(f"| {label} | {timings[-1]:.1f} |", flush=True)

    timed("first UMAP 2-D fit in the process (import, JIT or cache load)",
          lambda: fit_umap(features, n_components=2))
    timed("second UMAP 2-D fit", lambda: fit_umap(features, n_components=2))
    timed("gap table (all pairs + per class)", lambda: gap_rows(embeddings, opts=opts.gap))
    timed("whole analysis (table, heatmap, UMAP 2-D + 3-D, PNG, HTML, CSV)",
          lambda: draw_domain_gap(analyse_embeddings(embeddings, workdir, opts=opts), workdir, opts=opts))
    print(f"\noutputs in {workdir}")


if __name__ == "__main__":
    main()
