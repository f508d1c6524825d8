import numpy as np
import torch
from sklearn.linear_model import LinearRegression

from mmc.diagnostics.vif import average_vif, variance_inflation


def test_per_feature_vif_equals_a_direct_regression():
    rng = np.random.default_rng(0)
    base = rng.standard_normal((500, 3))
    z = np.hstack([base, base @ rng.standard_normal((3, 2)) + 0.3 * rng.standard_normal((500, 2))])
    direct = []
    for j in range(z.shape[1]):
        others = np.delete(z, j, axis=1)
        r2 = LinearRegression().fit(others, z[:, j]).score(others, z[:, j])
        direct.append(1.0 / (1.0 - r2))
    ours = variance_inflation(torch.from_numpy(z)).numpy()
    np.testing.assert_allclose(ours, direct, rtol=1e-4)
    assert abs(average_vif(torch.from_numpy(z)) - np.mean(direct)) < 1e-3 * np.mean(direct)
