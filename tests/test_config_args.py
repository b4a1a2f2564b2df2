"""A config's or sweep's ``:arg`` names only what it takes: a misspelt key,
a non-boolean switch or an unknown model variant is one line (exit 2) before
any data is generated or prepared, never silently ignored."""

import os
import subprocess
import sys

import pytest

from egoimu_jax import config_lib
from egoimu_jax import errors
from egoimu_jax import models
from launch.sweep import REPO_ROOT


def test_parse_arg_refuses_unknown_keys_and_non_booleans():
  with pytest.raises(errors.ArgError, match="unknown argument 'epoch'.*"
                     "did you mean 'epochs'"):
    config_lib.parse_arg("epoch=3", epochs=1.0)
  with pytest.raises(errors.ArgError, match="not a boolean"):
    config_lib.parse_arg("tiny=maybe", tiny=False)
  # A bare word is the variant, or turns a switch on.
  assert config_lib.parse_arg("tiny", tiny=False).tiny is True
  assert config_lib.parse_arg("tiny", variant="B").variant == "tiny"
  assert config_lib.parse_arg("tiny=0", tiny=True).tiny is False


def test_unknown_model_variant_names_the_known_ones():
  with pytest.raises(errors.ArgError, match="known: iswc22, paper, tiny"):
    models.check_variant({"name": "deepconvlstm", "variant": "nonsense"})
  models.check_variant({"name": "deepconvlstm", "variant": "iswc22"})


@pytest.mark.parametrize("args, message", [
    (["egoimu_jax.main", "--config=configs/deepconvlstm.py:nonsense"],
     "config.model.variant='nonsense' is not a deepconvlstm variant (known: "
     "iswc22, paper, tiny)"),
    (["egoimu_jax.main", "--config=configs/deepconvlstm.py:epoch=3"],
     "flag --config=configs/deepconvlstm.py:epoch=3: unknown argument "
     "'epoch' in 'epoch=3' (known: epochs, recipe, variant); did you mean "
     "'epochs'?"),
    (["launch.run", "--sweep=launch/sweeps/classical.py:bogus=1",
      "--dry_run"],
     "launch/sweeps/classical.py:bogus=1: unknown argument 'bogus' in "
     "'bogus=1' (known: class_weights, estimators, folds, lowo, protocols, seeds, tiny)"),
])
def test_bad_args_are_one_line_and_generate_nothing(tmp_path, args, message):
  module, *flags = args
  if module == "egoimu_jax.main":
    flags.append(f"--workdir={tmp_path}/run")
  r = subprocess.run([sys.executable, "-m", module, *flags], cwd=REPO_ROOT,
                     capture_output=True, text=True,
                     env=dict(os.environ, EGOIMU_CACHE=str(tmp_path / "c")))
  assert r.returncode == errors.EXIT_CODE, r.stderr[-2000:]
  assert r.stderr.strip().splitlines()[-1] == f"{module}: error: {message}"
  assert "Traceback" not in r.stderr
  assert not (tmp_path / "c").exists() and not (tmp_path / "run").exists()
