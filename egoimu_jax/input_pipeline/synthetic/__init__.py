"""The synthetic pilot: a dataset in the real raw layout with planted
per-worker differences (the embedded default for demos and tests).

``generator`` writes it (``ensure``, ``generate``); ``motion`` and
``activities`` simulate workers and their IMU, ``video`` the egocentric
MP4s, ``defects`` damaged clips that ingest must catch.
"""

from egoimu_jax.input_pipeline.synthetic.generator import COMPLETE_MARKER
from egoimu_jax.input_pipeline.synthetic.generator import config
from egoimu_jax.input_pipeline.synthetic.generator import config_hash
from egoimu_jax.input_pipeline.synthetic.generator import DEFAULTS
from egoimu_jax.input_pipeline.synthetic.generator import ensure
from egoimu_jax.input_pipeline.synthetic.generator import generate
from egoimu_jax.input_pipeline.synthetic.generator import GENERATOR_VERSION
