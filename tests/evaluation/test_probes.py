import numpy as np
import pytest

from egoimu_jax.evaluation import probes


def _blobs(rng, n, k=3, d=8, sep=4.0):
  centers = rng.normal(0.0, sep, size=(k, d))
  y = rng.integers(0, k, n)
  return centers[y] + rng.normal(size=(n, d)), y


def test_linear_probe_on_separable_features_with_val():
  rng = np.random.default_rng(0)
  x, y = _blobs(rng, 300)
  r = probes.linear_probe(x[:150], y[:150], x[250:], num_classes=3,
                          val_x=x[150:250], val_y=y[150:250])
  assert (r.pred == y[250:]).mean() > 0.95
  assert r.probs.shape == (50, 3)
  np.testing.assert_allclose(r.probs.sum(1), 1.0, atol=1e-5)
  assert r.params["C"] in probes.LINEAR_C_GRID
  assert r.params["selection"] == "val_macro_f1"


def test_linear_probe_cv_fallback_and_unseen_class_column():
  rng = np.random.default_rng(1)
  x, y = _blobs(rng, 120, k=2)
  r = probes.linear_probe(x[:100], y[:100], x[100:], num_classes=4,
                          c_grid=(0.01, 1.0))
  assert r.params["selection"].startswith("cv")
  assert r.probs.shape == (20, 4)
  assert np.all(r.probs[:, 2:] == 0)          # classes never seen in training
  assert (r.pred == y[100:]).mean() > 0.9


def test_comodo_svm_probe_subsamples_and_searches_c():
  rng = np.random.default_rng(2)
  x, y = _blobs(rng, 400, d=6)
  r = probes.comodo_svm_probe(x[:300], y[:300], x[300:], num_classes=3,
                              max_samples=120, c_grid=(1e-2, 1.0, 100.0))
  assert r.params["n_fit"] == 120 and r.params["n_train"] == 300
  assert r.params["C"] in (1e-2, 1.0, 100.0)
  assert set(r.params["scores"]) == {"0.01", "1.0", "100.0"}
  assert (r.pred == y[300:]).mean() > 0.95
  np.testing.assert_array_equal(r.pred, r.probs.argmax(1))


def test_comodo_tiny_training_set_uses_fixed_c():
  rng = np.random.default_rng(3)
  x, y = _blobs(rng, 60, k=2)
  r = probes.comodo_svm_probe(x[:30], y[:30], x[30:], num_classes=2)
  assert r.params["C"] == 1e5


def test_probe_input_errors():
  x = np.zeros((10, 3))
  with pytest.raises(ValueError, match="single class"):
    probes.linear_probe(x, np.zeros(10, int), x, num_classes=2)
  with pytest.raises(ValueError, match=r"test features must be \[n, 3\]"):
    probes.linear_probe(x, np.arange(10) % 2, np.zeros((2, 4)), num_classes=2)
  bad = x.copy()
  bad[0, 0] = np.nan
  with pytest.raises(ValueError, match="NaN"):
    probes.comodo_svm_probe(bad, np.arange(10) % 2, x, num_classes=2)
