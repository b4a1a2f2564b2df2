"""Evaluation over the mesh: a task's per-example outputs on eval batches,
gathered from every host with the padding masked out."""

from __future__ import annotations

from typing import Callable, Dict, Optional

from jax.experimental import multihost_utils
import numpy as np

from egoimu_jax.training import sharding


def make_eval_step(task, transform: Optional[Callable[[dict], dict]] = None
                   ) -> Callable:
  """``(state, batch) -> per-example outputs`` plus ``index`` and ``mask``.

  ``transform(batch) -> batch`` (e.g. an evaluation variant's degraded
  video) is applied first, inside the step, whatever the model."""

  def eval_step(state, batch):
    if transform is not None:
      batch = transform(batch)
    out = dict(task.predict(state.variables, batch))
    out.update(index=batch["index"], mask=batch["mask"])
    return out

  return eval_step


def predict(p_eval: Callable, state, batches,
            batch_sh) -> Dict[str, np.ndarray]:
  """Outputs of every real (unpadded) example of ``batches``, all hosts."""
  outs = [p_eval(state, sharding.global_batch(b, batch_sh)) for b in batches]
  if not outs:
    raise ValueError("evaluation set is empty")
  outs = multihost_utils.process_allgather(outs, tiled=True)
  cat = {k: np.concatenate([np.asarray(o[k]) for o in outs]) for k in outs[0]}
  mask = cat.pop("mask").astype(bool)
  return {k: v[mask] for k, v in cat.items()}
