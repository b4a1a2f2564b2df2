"""``prepare``: raw dataset -> sharded ArrayRecord windows + manifest.

``run`` drives it (``ensure``, ``prepare``), ``plan`` assigns clips to
shards, ``shard`` ingests and writes one shard, ``merge`` merges the shards'
summaries into ``manifest.json`` and ``quarantine.csv``. The command line is
``python -m egoimu_jax.input_pipeline.prepare`` (``__main__``).
"""

from egoimu_jax.input_pipeline.prepare.run import ensure
from egoimu_jax.input_pipeline.prepare.run import finalize
from egoimu_jax.input_pipeline.prepare.run import prepare
