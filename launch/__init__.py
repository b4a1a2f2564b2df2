"""Sweeps of egoimu_jax runs and the executors that run them.

A sweep file (``launch/sweeps/*.py``) defines ``sweep(arg) -> list[Job]``
with the helpers below; ``python -m launch.run --sweep=FILE`` expands,
validates and runs it (see ``launch/run.py``).
"""

from launch.data_jobs import data_first
from launch.job import Job, REPORT_TAG, RESULTS_FILE, is_done
from launch.seeds import with_seeds
from launch.sweep import (SweepError, load_sweep, parse_arg, product,
                          protocol_job, scale_tag, validate, zip_axes)

__all__ = ["Job", "REPORT_TAG", "RESULTS_FILE", "is_done", "SweepError", "load_sweep",
           "data_first", "parse_arg", "product", "protocol_job", "scale_tag", "validate",
           "with_seeds", "zip_axes"]
