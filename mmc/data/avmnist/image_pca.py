"""avMNIST's harder images: MNIST with 75% of the PCA energy removed.

Read as in the avMNIST papers: the images are rebuilt from the leading principal components
only, as many as are needed to keep (1 - removed) of the total variance, so the digits
become blurred prototypes. The PCA is fitted on training images only.
"""

from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA
from threadpoolctl import threadpool_limits  # a dependency of scikit-learn


def remove_pca_energy(
    train: np.ndarray, others: list[np.ndarray], removed: float = 0.75
) -> tuple[np.ndarray, list[np.ndarray], dict]:
    """Flattened images [N, D] (0..255) -> the same, reconstructed from the top components.

    Returns the train images, the other arrays, and facts (components kept, energy kept).
    """
    flat = train.reshape(len(train), -1).astype(np.float64)
    if removed <= 0:
        return train, others, {"components": flat.shape[1], "energy_kept": 1.0}
    # A 784 x 784 eigenproblem: on a busy machine BLAS threads made it 10x slower, not faster.
    with threadpool_limits(limits=1):
        pca = PCA(svd_solver="covariance_eigh").fit(flat)
    cumulative = np.cumsum(pca.explained_variance_ratio_)
    k = int(np.searchsorted(cumulative, 1.0 - removed) + 1)
    k = min(max(k, 1), len(cumulative))
    basis = pca.components_[:k]

    def project(x: np.ndarray) -> np.ndarray:
        centred = x.reshape(len(x), -1).astype(np.float64) - pca.mean_
        rebuilt = centred @ basis.T @ basis + pca.mean_
        return np.clip(np.round(rebuilt), 0, 255).astype(np.uint8)

    facts = {"components": k, "energy_kept": float(cumulative[k - 1])}
    return project(train), [project(o) for o in others], facts
