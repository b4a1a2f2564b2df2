"""Which config runs each model name used in sweeps (and workdir paths).

A name maps to ``configs/<file>.py[:arg]``; ``config_for(name, tiny=True)``
adds the ``tiny`` variant every config offers for smoke runs.
"""

from __future__ import annotations

CONFIGS = {
    "attend_discriminate": "configs/attend_discriminate.py",
    "classical_logreg": "configs/classical.py:estimator=logreg",
    "classical_rf": "configs/classical.py:estimator=rf",
    "deepconvlstm": "configs/deepconvlstm.py",
}


def config_for(name: str, tiny: bool = False) -> str:
  if name not in CONFIGS:
    raise KeyError(f"no config for model {name!r}; known: {sorted(CONFIGS)} "
                   f"(add it to launch/configs.py)")
  config = CONFIGS[name]
  if not tiny:
    return config
  return config + (",tiny" if ":" in config else ":tiny")
