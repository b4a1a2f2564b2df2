"""Power-law fits of cross-person macro-F1 against training data and workers.

``power_law`` fits and bootstraps, ``plots`` draws; neither reads runs:
``egoimu_jax.report.scaling_points`` turns a sweep's runs into points, and
the notebook ``scaling/scaling_fits.ipynb`` runs all three over a sweep root.
"""
