"""Which config file runs each model name used in sweeps, read off ``configs/``.

A model name is a config file's stem (``deepconvlstm`` ->
``configs/deepconvlstm.py``), or, for a config that takes an ``estimator``
argument, ``<stem>_<estimator>`` (``classical_rf`` ->
``configs/classical.py:estimator=rf``), the name that job gives its runs. So a
new ``configs/<name>.py`` is usable in sweeps as is. ``config_for(name,
tiny=True)`` adds the ``tiny`` variant every config offers for smoke runs;
``cpu=True`` the layout of ``CPU_VARIANTS`` that trains in minutes on a
2-core CPU (the README's CPU-scale results), where a model has one.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from typing import List, Optional

# Paths in jobs are relative to the repository root (launch.sweep.REPO_ROOT).
CONFIG_DIR = "configs"
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The argument whose values name a config's variants (``classical_rf``).
ESTIMATOR_ARG = "estimator"
# Model name -> the variant of its config that trains at CPU scale.
CPU_VARIANTS = {"deepconvlstm": "iswc22", "attend_discriminate": "cpu",
                "moment": "cpu", "mantis": "cpu"}


def config_names() -> List[str]:
  """Stems of the config files, sorted."""
  return sorted(f[:-3] for f in os.listdir(os.path.join(_ROOT, CONFIG_DIR))
                if f.endswith(".py") and not f.startswith("_"))


@functools.lru_cache(maxsize=None)
def _module(stem: str):
  path = os.path.join(_ROOT, CONFIG_DIR, f"{stem}.py")
  spec = importlib.util.spec_from_file_location(f"launch_config_{stem}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def _takes_estimator(stem: str) -> bool:
  return ESTIMATOR_ARG in (_module(stem).get_config().get("arg") or {})


def _estimator_config(name: str) -> Optional[str]:
  """``<stem>_<estimator>`` -> ``configs/<stem>.py:estimator=<estimator>``."""
  for stem in config_names():
    prefix = stem + "_"
    if not (name.startswith(prefix) and _takes_estimator(stem)):
      continue
    estimator = name[len(prefix):]
    if not estimator:
      continue
    arg = f"{ESTIMATOR_ARG}={estimator}"
    try:
      _module(stem).get_config(arg)
    except ValueError as e:
      raise KeyError(f"no config for model {name!r}: {CONFIG_DIR}/{stem}.py:"
                     f"{arg} fails: {e}") from None
    return f"{CONFIG_DIR}/{stem}.py:{arg}"
  return None


def _known() -> List[str]:
  names = config_names()
  estimators = []
  for stem in names:
    try:
      if _takes_estimator(stem):
        estimators.append(f"{stem}_<{ESTIMATOR_ARG}>")
    except Exception:  # pylint: disable=broad-except
      pass  # a config that does not load here names no estimator variants
  return names + estimators


def config_for(name: str, tiny: bool = False, cpu: bool = False) -> str:
  """``"configs/<file>.py[:arg]"`` for a model name; ``tiny`` adds ``tiny``,
  else ``cpu`` adds the model's ``CPU_VARIANTS`` entry (if any)."""
  if name in config_names():
    config = f"{CONFIG_DIR}/{name}.py"
  else:
    config = _estimator_config(name)
  if config is None:
    raise KeyError(f"no config for model {name!r}; known: {_known()} "
                   f"(a name is a {CONFIG_DIR}/<name>.py file)")
  variant = "tiny" if tiny else CPU_VARIANTS.get(name) if cpu else None
  if not variant:
    return config
  return config + ("," if ":" in config else ":") + variant


def _default_config(name: str):
  stem = config_for(name).split(":", 1)[0][len(CONFIG_DIR) + 1:-3]
  return _module(stem).get_config()


def accepts(name: str, key: str) -> bool:
  """Whether the config of model ``name`` takes the argument ``key``."""
  return key in (_default_config(name).get("arg") or {})


def with_args(config: str, **args) -> str:
  """``config`` with ``key=value`` arguments appended (falsy values skipped)."""
  extra = [f"{k}={v}" for k, v in args.items() if v]
  if not extra:
    return config
  return config + ("," if ":" in config else ":") + ",".join(extra)
