"""Import a pytorchvideo SlowFast checkpoint into ``models.slowfast``.

Input: a state dict of ``pytorchvideo.models.slowfast.create_slowfast`` (e.g.
the model zoo's ``SLOWFAST_8x8_R50.pyth``, whose ``checkpoint["model_state"]``
is unwrapped), read from ``.pyth``/``.pt``/``.pth`` (needs torch, imported
only then) or from ``.safetensors``/``.npz`` (numpy only).

Output of ``convert``/``load``: ``{"params", "batch_stats", "spec_overrides",
"ignored"}``. The first two are ``slowfast.SlowFast`` variables (complete
when the head is imported); ``spec_overrides`` are the ``slowfast.create``
fields the shapes fix (not ``num_classes``, which the task chooses);
``ignored`` lists checkpoint keys not imported. Names map as follows
(``p`` = 0 Slow, 1 Fast; ``s`` = 1..4 is res2..res5)::

  blocks.0.multipathway_blocks.{p}.{conv,norm}      {slow,fast}_stem/{conv,norm}
  blocks.{i}.multipathway_fusion.conv_fast_to_slow  fusion_{i}/conv   (i = 0..3)
  blocks.{i}.multipathway_fusion.norm               fusion_{i}/norm
  blocks.{s}.multipathway_blocks.{p}.res_blocks.{j}.
      branch1_conv, branch1_norm                    {path}_res{s+1}/block_{j}/
      branch2.conv_{a,b,c}, branch2.norm_{a,b,c}      branch1_*, conv_*, norm_*
  blocks.6.proj                                     head

``Conv3d`` weights ``[out, in, t, h, w]`` become kernels ``[t, h, w, in,
out]``; BatchNorm weight/bias go to ``params`` (scale/bias), running
mean/var to ``batch_stats``, ``num_batches_tracked`` is dropped. Every other
key is an error (a partial load would go unnoticed otherwise).

The architecture is read from the shapes (``spec_overrides``): stage
depths, stem width, ``beta_inv``, lateral ratio and kernel, stem and
``conv_a`` temporal kernels. ``alpha`` and strides are not stored in weights
and keep the model's defaults. The head is converted only when its label
count is the ``num_classes`` asked for; otherwise it is reported in
``ignored`` (a fine-tuning run keeps its own head).
"""

from __future__ import annotations

import os
from typing import Any, Mapping

from absl import logging
import flax
import jax
import jax.numpy as jnp
import numpy as np

from egoimu_jax.models import slowfast
from egoimu_jax.models import torch_convert as tc

PATHWAYS = ("slow", "fast")  # pytorchvideo pathway index 0, 1
HEAD = "blocks.6.proj"


def _res(s: int, p: int, j: int) -> str:
  return f"blocks.{s}.multipathway_blocks.{p}.res_blocks.{j}"


def spec_overrides(state_dict: Mapping[str, Any],
                   source: str = "state dict") -> dict[str, Any]:
  """``slowfast.create`` fields a pytorchvideo state dict's shapes fix."""
  def shape(key):
    if key not in state_dict:
      raise KeyError(f"{source}: missing key {key!r}")
    return tuple(np.shape(state_dict[key]))

  stem = "blocks.0.multipathway_blocks.{}.conv.weight"
  fusion = "blocks.0.multipathway_fusion.conv_fast_to_slow.weight"
  for key in (stem.format(0), stem.format(1), fusion):
    if key not in state_dict:
      raise KeyError(f"{source}: missing key {key!r}; not a pytorchvideo "
                     "SlowFast state dict")
  depths = []
  for s in range(1, 5):
    depth = 0
    while f"{_res(s, 0, depth)}.branch2.conv_a.weight" in state_dict:
      depth += 1
    if not depth:
      raise KeyError(f"{source}: missing key "
                     f"'{_res(s, 0, 0)}.branch2.conv_a.weight'")
    depths.append(depth)
  slow_stem, fast_stem, lateral = (shape(stem.format(0)),
                                   shape(stem.format(1)), shape(fusion))
  spec = dict(
      depths=tuple(depths), stem_width=slow_stem[0],
      beta_inv=slow_stem[0] // fast_stem[0],
      fusion_ratio=lateral[0] // lateral[1], fusion_kernel=lateral[2],
      slow_stem_kernel=slow_stem[2], fast_stem_kernel=fast_stem[2],
      slow_temporal_kernels=tuple(
          shape(f"{_res(s, 0, 0)}.branch2.conv_a.weight")[2]
          for s in range(1, 5)),
      fast_temporal_kernels=tuple(
          shape(f"{_res(s, 1, 0)}.branch2.conv_a.weight")[2]
          for s in range(1, 5)))
  return spec


def convert(state_dict: Mapping[str, Any], num_classes: int | None = None,
            source: str = "SlowFast state dict") -> dict[str, Any]:
  """Maps a pytorchvideo SlowFast state dict onto ``SlowFast`` variables.

  Args:
    state_dict: names to tensors or arrays (a leading ``module.`` of
      DistributedDataParallel checkpoints is stripped).
    num_classes: the label count the model will have. A ``blocks.6.proj``
      with another count is reported in ``ignored`` instead of becoming
      ``head``; None imports any.
    source: names the checkpoint in errors.

  Returns:
    ``{"params", "batch_stats", "spec_overrides", "ignored"}`` (module
    docstring).

  Raises:
    KeyError naming a missing key; ValueError naming keys nothing consumed,
    or parameters whose shapes do not fit the inferred architecture.
  """
  if state_dict and all(k.startswith("module.") for k in state_dict):
    state_dict = {k[len("module."):]: v for k, v in state_dict.items()}
  # Shapes are read from the plain dict: membership tests on a StateDict
  # count as reads.
  spec = spec_overrides(state_dict, source)
  sd = tc.StateDict(state_dict, source)
  params: dict[str, Any] = {}
  stats: dict[str, Any] = {}

  def conv_bn(p_out, s_out, conv_key, norm_key, conv_name, norm_name):
    p_out[conv_name] = tc.conv(sd, conv_key)
    p_out[norm_name], s_out[norm_name] = tc.batch_norm(sd, norm_key)

  for p, path in enumerate(PATHWAYS):
    params[f"{path}_stem"], stats[f"{path}_stem"] = {}, {}
    conv_bn(params[f"{path}_stem"], stats[f"{path}_stem"],
            f"blocks.0.multipathway_blocks.{p}.conv",
            f"blocks.0.multipathway_blocks.{p}.norm", "conv", "norm")
  for i in range(len(spec["depths"])):
    params[f"fusion_{i}"], stats[f"fusion_{i}"] = {}, {}
    conv_bn(params[f"fusion_{i}"], stats[f"fusion_{i}"],
            f"blocks.{i}.multipathway_fusion.conv_fast_to_slow",
            f"blocks.{i}.multipathway_fusion.norm", "conv", "norm")
  for s, depth in enumerate(spec["depths"], start=1):
    for p, path in enumerate(PATHWAYS):
      stage_p = params[f"{path}_res{s + 1}"] = {}
      stage_s = stats[f"{path}_res{s + 1}"] = {}
      for j in range(depth):
        prefix = _res(s, p, j)
        block_p = stage_p[f"block_{j}"] = {}
        block_s = stage_s[f"block_{j}"] = {}
        if f"{prefix}.branch1_conv.weight" in state_dict:
          conv_bn(block_p, block_s, f"{prefix}.branch1_conv",
                  f"{prefix}.branch1_norm", "branch1_conv", "branch1_norm")
        for x in "abc":
          conv_bn(block_p, block_s, f"{prefix}.branch2.conv_{x}",
                  f"{prefix}.branch2.norm_{x}", f"conv_{x}", f"norm_{x}")

  ignored: list[str] = []
  if f"{HEAD}.weight" in state_dict:
    labels = np.shape(state_dict[f"{HEAD}.weight"])[0]
    if num_classes is None or num_classes == labels:
      params["head"] = tc.linear(sd, HEAD)
    else:
      ignored = sorted(k for k in state_dict if k.startswith(HEAD + "."))
      sd.mark_used(*ignored)
      logging.info("%s: head has %d labels, model %d: not imported", source,
                   labels, num_classes)
  sd.assert_all_used()

  variables = jax.tree.map(lambda a: np.asarray(a, np.float32),
                           {"params": params, "batch_stats": stats})
  head = params.get("head", {}).get("kernel")
  model = slowfast.create("R50", num_classes=1 if head is None else
                          head.shape[1], **spec)
  reference = _abstract_variables(model)
  if head is None:
    del reference["params"]["head"]
  tc.check_like(variables, reference, what=f"{source} variables")
  return {**variables, "spec_overrides": spec, "ignored": tuple(ignored)}


def _abstract_variables(model: slowfast.SlowFast) -> dict[str, Any]:
  """Shapes of ``model``'s variables (traced on a minimal clip, no compute)."""
  frames = jax.ShapeDtypeStruct((1, 2 * model.alpha, 32, 32, 3), jnp.float32)
  shapes = jax.eval_shape(lambda x: model.init(
      {"params": jax.random.key(0)}, {"frames": x}, train=False), frames)
  return flax.core.unfreeze(shapes)


def read_state_dict(path: str, trusted: bool = False) -> dict[str, np.ndarray]:
  """The state dict stored at ``path`` (numpy arrays).

  ``.pyth``/``.pt``/``.pth`` are torch pickles: read with
  ``torch.load(weights_only=True)`` unless ``trusted`` (full unpickling runs
  code from the file; PySlowFast checkpoints that pickle their config need
  it). ``checkpoint["model_state"]`` is unwrapped when present.
  """
  ext = os.path.splitext(path)[1].lower()
  if ext == ".safetensors":
    from safetensors.numpy import load_file  # pylint: disable=g-import-not-at-top
    return dict(load_file(path))
  if ext == ".npz":
    with np.load(path, allow_pickle=False) as f:
      return {k: f[k] for k in f.files}
  if ext not in (".pyth", ".pt", ".pth"):
    raise ValueError(f"{path}: unknown checkpoint format {ext!r}; expected "
                     ".pyth, .pt, .pth, .safetensors or .npz")
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ImportError(
        f"{path}: reading {ext} checkpoints needs torch, which is not "
        "installed; save the state dict as .safetensors or .npz elsewhere, "
        "or install torch") from e
  try:
    checkpoint = torch.load(path, map_location="cpu", weights_only=not trusted)
  except Exception as e:  # pickle.UnpicklingError and friends
    if trusted:
      raise
    raise ValueError(f"{path}: torch.load(weights_only=True) failed ({e}); "
                     "if you trust the file, pass trusted=True") from e
  if isinstance(checkpoint, Mapping) and "model_state" in checkpoint:
    checkpoint = checkpoint["model_state"]
  if not isinstance(checkpoint, Mapping):
    raise ValueError(f"{path}: expected a state dict (or a checkpoint with "
                     f"'model_state'), got {type(checkpoint).__name__}")
  return {k: tc.to_numpy(v) for k, v in checkpoint.items()}


def load(path: str, num_classes: int | None = None,
         trusted: bool = False) -> dict[str, Any]:
  """Reads and converts a pytorchvideo SlowFast checkpoint (``convert``)."""
  out = convert(read_state_dict(path, trusted), num_classes, source=path)
  logging.info("SlowFast %s: %s, head %s; ignored %s", path,
               out["spec_overrides"],
               "imported" if "head" in out["params"] else "absent",
               list(out["ignored"]))
  return out
