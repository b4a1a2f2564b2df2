"""Frozen video-teacher embeddings: the ``extract_embeddings`` job.

* ``config``: ``config.teacher`` defaults (no JAX import).
* ``frame_source``: a window's frames, from the frame shards or decoded
  from the raw MP4s on the fly.
* ``model``: the frozen model: build, weights and checksums, pooling,
  projection, the batched forward over the local devices.
* ``parts``: chunks of whole clips and their part files (resumption, host
  split), the run's plan.
* ``merge``: chunks -> teacher shard set, ``teacher_manifest.json``,
  ``teacher_missing.csv``.
* ``extract``: the job, ``run(config, workdir)``.
"""
