"""Executors run a sweep's jobs: ``local`` (sequential or N at once),
``slurm`` (sbatch arrays) and ``xmanager`` (xm_local). Each has
``run(jobs) -> Outcome``; import the one you need (they import lazily)."""
