"""Power-law fits of cross-person macro-F1 against training data and workers.

``scaling.points`` reads a sweep's runs (through ``egoimu_jax.report``),
``scaling.power_law`` fits and bootstraps, ``scaling.plots`` draws; the
notebook ``scaling/scaling_fits.ipynb`` runs all three over a sweep root.
"""
