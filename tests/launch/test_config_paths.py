"""Model names in sweeps -> config files, read off configs/."""

import os
import textwrap

import pytest

from launch import config_paths
from launch.sweep import REPO_ROOT


@pytest.fixture
def fresh_cache():
  config_paths._module.cache_clear()
  yield
  config_paths._module.cache_clear()


def test_every_config_file_is_a_name():
  names = config_paths.config_names()
  assert {"attend_discriminate", "classical", "deepconvlstm", "evimae",
          "imu_mae"} <= set(names)
  for name in names:
    path = config_paths.config_for(name)
    assert path == f"configs/{name}.py"
    assert os.path.isfile(os.path.join(REPO_ROOT, path))
    assert config_paths.config_for(name, tiny=True) == f"configs/{name}.py:tiny"


def test_names_used_by_sweeps():
  assert (config_paths.config_for("deepconvlstm", tiny=True)
          == "configs/deepconvlstm.py:tiny")
  assert (config_paths.config_for("attend_discriminate")
          == "configs/attend_discriminate.py")
  assert (config_paths.config_for("classical_rf")
          == "configs/classical.py:estimator=rf")
  assert (config_paths.config_for("classical_logreg", tiny=True)
          == "configs/classical.py:estimator=logreg,tiny")


def test_unknown_names_fail_listing_the_known_ones():
  with pytest.raises(KeyError, match=r"'nope'; known: \['attend_discriminate', "
                     r"'classical', .*'deepconvlstm'.*'classical_<estimator>'"):
    config_paths.config_for("nope")
  # Only a config with an estimator argument has <stem>_<estimator> names.
  with pytest.raises(KeyError, match="'deepconvlstm_rf'; known"):
    config_paths.config_for("deepconvlstm_rf")
  with pytest.raises(KeyError, match=r"classical.py:estimator=svm fails: "
                     r"unknown estimator 'svm' \(known: rf, logreg, "
                     r"svm_comodo\)"):
    config_paths.config_for("classical_svm")


def test_a_new_config_file_needs_no_edit_in_launch(tmp_path, monkeypatch,
                                                    fresh_cache):
  (tmp_path / "configs").mkdir()
  (tmp_path / "configs" / "newnet.py").write_text(textwrap.dedent("""\
      from egoimu_jax import config_lib

      def get_config(arg=None):
        return config_lib.base(arg)
      """))
  (tmp_path / "configs" / "boosted.py").write_text(textwrap.dedent("""\
      from egoimu_jax import config_lib

      def get_config(arg=None):
        config = config_lib.base(arg, estimator="gbt")
        if config.arg.estimator not in ("gbt", "ada"):
          raise ValueError("unknown estimator")
        return config
      """))
  monkeypatch.setattr(config_paths, "_ROOT", str(tmp_path))
  assert config_paths.config_names() == ["boosted", "newnet"]
  assert (config_paths.config_for("newnet", tiny=True)
          == "configs/newnet.py:tiny")
  assert (config_paths.config_for("boosted_ada")
          == "configs/boosted.py:estimator=ada")
  with pytest.raises(KeyError, match=r"known: \['boosted', 'newnet', "
                     r"'boosted_<estimator>'\]"):
    config_paths.config_for("deepconvlstm")


def test_cpu_variants_and_args():
  assert config_paths.config_for("deepconvlstm", cpu=True) == (
      "configs/deepconvlstm.py:iswc22")
  assert config_paths.config_for("moment", cpu=True) == "configs/moment.py:cpu"
  # No CPU layout: the config as is; tiny wins over cpu.
  assert config_paths.config_for("classical_rf", cpu=True) == (
      "configs/classical.py:estimator=rf")
  assert config_paths.config_for("moment", tiny=True, cpu=True) == (
      "configs/moment.py:tiny")
  assert config_paths.accepts("moment", "epochs")
  assert not config_paths.accepts("classical_rf", "epochs")
  assert config_paths.with_args("configs/moment.py:cpu", epochs=8.0,
                                weights="") == "configs/moment.py:cpu,epochs=8.0"
  assert config_paths.with_args("configs/x.py", a=1) == "configs/x.py:a=1"
