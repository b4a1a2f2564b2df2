"""Gets the benchmark out to other frameworks: a fold's windows as numpy /
Parquet (``windows``) and the official splits as one bundle
(``split_bundle``). CLI: ``python -m egoimu_jax.export`` (``__main__``)."""
