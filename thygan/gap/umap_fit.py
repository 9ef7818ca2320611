"""UMAP projections (McInnes et al. 2018, umap-learn) with the thyroid study's settings.

The study's DG_Visualization notebook fits ``UMAP(random_state=42)`` for 2-D and
``UMAP(n_components=3, init='random', random_state=42)`` for 3-D on the raw features; these are the
defaults here. A fixed ``random_state`` makes umap-learn run single-threaded and reproducible.

umap-learn compiles its numba kernels on first use, 15-20 s per process on 2 cores, longer than the
fit itself for a few thousand points. Both fits run in one process, so that cost is paid once; and
``enable_jit_cache`` switches on numba's on-disk cache for umap's kernels (umap-learn leaves it off),
so later processes load the compiled code in about a second instead of compiling again.
"""

import warnings

import numpy as np

_UMAP_MODULES = ("umap.umap_", "umap.layouts", "umap.spectral", "umap.utils", "umap.distances", "umap.sparse")


def enable_jit_cache() -> int:
    """Turn on numba's disk cache for umap-learn's compiled kernels; returns how many were switched.

    Calling it again is harmless (kernels already caching are skipped). A kernel numba refuses to
    cache (no writable cache folder; see NUMBA_CACHE_DIR) simply keeps compiling per process.
    """
    import importlib

    from numba.core.caching import NullCache
    from numba.core.registry import CPUDispatcher

    switched = 0
    for module_name in _UMAP_MODULES:
        module = importlib.import_module(module_name)
        for kernel in vars(module).values():
            if isinstance(kernel, CPUDispatcher) and isinstance(kernel._cache, NullCache):
                try:
                    kernel.enable_caching()
                except RuntimeError:
                    continue  # numba found no writable cache location for this file
                switched += 1
    return switched


def fit_umap(features: np.ndarray, *,
             n_components: int = 2,            # output dimensions (2 or 3)
             seed: int = 42,                   # random_state (the study's)
             n_neighbors: int = 15,            # local neighbourhood size (umap-learn default)
             min_dist: float = 0.1,            # how tightly points pack (umap-learn default)
             n_epochs: int | None = None,      # layout epochs; None = umap-learn's (200 or 500 by size)
             jit_cache: bool = True) -> np.ndarray:  # keep the compiled kernels on disk
    """features: [N, D] -> coordinates [N, n_components] float32.

    3-D uses ``init='random'`` as the study did; 2-D umap-learn's default spectral init.
    """
    if jit_cache:
        enable_jit_cache()
    import umap

    n_neighbors = max(2, min(n_neighbors, len(features) - 1))
    init = "random" if n_components == 3 else "spectral"
    reducer = umap.UMAP(n_components=n_components, random_state=seed, n_neighbors=n_neighbors,
                        min_dist=min_dist, n_epochs=n_epochs, init=init)
    with warnings.catch_warnings():
        # "n_jobs overridden to 1 by setting random_state": the reproducibility we asked for.
        warnings.filterwarnings("ignore", message="n_jobs value", category=UserWarning)
        return reducer.fit_transform(np.asarray(features, np.float32)).astype(np.float32)
