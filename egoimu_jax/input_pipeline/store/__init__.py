"""Processed datasets: window records (``records``, ``tfds_format``), the
shards and their index (``shard_io``, ``record_table``), ``manifest.json``,
the reader every pipeline opens (``processed``) and teacher-embedding shard
sets (``embeddings``)."""
