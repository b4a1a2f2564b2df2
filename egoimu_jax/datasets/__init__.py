"""Public datasets written in the raw layout: ``python -m egoimu_jax.datasets``.

A dataset is one file here, a ``base.PublicDataset`` subclass (its class
sets, units, people and labelled recordings), plus one line below;
``layout_writer`` writes every one the same way (docs/datasets.md).
"""

from egoimu_jax.registry import Registry

DATASETS = Registry("dataset", lazy={
    "hapt": "egoimu_jax.datasets.hapt:Hapt",
})
