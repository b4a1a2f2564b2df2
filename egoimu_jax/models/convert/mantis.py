"""Import a ``mantis-tsfm`` Mantis v1 checkpoint into ``models.mantis``.

Input (``load(path)``): a ``save_pretrained`` / Hugging Face directory
(``model.safetensors`` or ``pytorch_model.bin``, with an optional
``config.json``), or a single state-dict file (``.safetensors``, or
``.pth`` / ``.pt`` / ``.bin``, which need torch). Safetensors are read with
numpy; nothing is downloaded.

Output: ``{"params": ...}``, the encoder of a ``Mantis`` (everything but
``head`` / ``head_norm``, which fine-tuning initialises), so ``load`` serves
as the ``models.IMPORTERS`` entry ``"mantis"``. ``spec_overrides`` gives the
``mantis.create`` fields that the checkpoint fixes (from config.json, else
from the weights' shapes with the 8M defaults for the rest).

Both key generations load: ``Mantis8M`` / the released
``paris-noah/Mantis-8M`` weights (``vit_unit.*``) and ``MantisV1``
(``transf_unit.*``). Key map (``<i>`` = layer, ``T`` = the transformer unit):

=================================================  ===========================
mantis                                             ours
=================================================  ===========================
``tokgen_unit.convs.0.conv`` / ``convs.1.conv``    ``tokgen/conv_diff`` /
                                                   ``conv_x`` (``[d, 1, k]``
                                                   -> ``[k, 1, d]``)
``tokgen_unit.layer_norms.0`` / ``.1``             ``tokgen/norm_diff`` /
                                                   ``norm_x``
``tokgen_unit.scalar_encoders.{0,1}``              ``tokgen/{mean,std}_encoder``
``.encoders.<j>.{w, b}`` ``[1, f]``,               ``/{w, b}``, ``/norm``: row
``.encoders.<j>.layer_norm``                       ``j`` of ``[S, f]``
``tokgen_unit.linear_encoder.linear`` /            ``tokgen/proj`` /
``.layer_norm``                                    ``proj_norm``
``T.cls_token``                                    ``cls_token``
``T.transformer.layers.<i>.0.norm``                ``encoder/block_<i>/norm1``
``T.transformer.layers.<i>.0.fn.to_qkv``           ``.../attn/{query,key,
                                                   value}`` (rows split in
                                                   thirds, q first)
``T.transformer.layers.<i>.0.fn.to_out.0``         ``.../attn/out``
``T.transformer.layers.<i>.1.norm``                ``.../norm2``
``T.transformer.layers.<i>.1.fn.net.{0,3}``        ``.../mlp/fc1``, ``fc2``
=================================================  ===========================

Buffers are checked, not imported: ``scalar_encoders.<e>.scales`` must equal
the model's scales and ``T.pos_encoder.pe`` its sinusoidal table. The
pretraining projector ``prj.*`` has no counterpart in the classifier; its
keys are reported in ``ignored``. Every other key must be consumed (a
partial load is an error naming the keys), and the result must have the
shapes of the model ``spec_overrides`` describes.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Mapping

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from egoimu_jax.models import layers
from egoimu_jax.models import mantis
from egoimu_jax.models import torch_convert as tc

OLD_PREFIX, NEW_PREFIX = "vit_unit.", "transf_unit."
# config.json (MantisV1's constructor arguments) -> mantis.create fields.
CONFIG_FIELDS = {
    "seq_len": "seq_len", "hidden_dim": "width", "num_patches": "num_patches",
    "scalar_scales": "scales", "hidden_dim_scalar_enc": "scalar_dim",
    "epsilon_scalar_enc": "scalar_epsilon", "transf_depth": "depth",
    "transf_num_heads": "num_heads", "transf_dim_head": "dim_head",
    "transf_mlp_dim": "mlp_dim",
}


@dataclasses.dataclass(frozen=True)
class MantisWeights:
  params: dict[str, Any]          # our layout, without the head
  spec_overrides: dict[str, Any]  # mantis.create fields
  ignored: tuple[str, ...]        # checkpoint keys not imported (prj.*)


def read_checkpoint(path: str) -> tuple[dict[str, Any] | None,
                                        dict[str, np.ndarray]]:
  """``(config or None, state_dict)`` of a checkpoint directory or file."""
  config = None
  if os.path.isdir(path):
    config_path = os.path.join(path, "config.json")
    if os.path.isfile(config_path):
      with open(config_path) as f:
        config = json.load(f)
    for name in ("model.safetensors", "pytorch_model.bin"):
      if os.path.isfile(os.path.join(path, name)):
        return config, _read_file(os.path.join(path, name))
    raise FileNotFoundError(f"{path}: no model.safetensors or "
                            "pytorch_model.bin")
  if not os.path.isfile(path):
    raise FileNotFoundError(f"Mantis checkpoint {path!r} does not exist")
  return config, _read_file(path)


def _read_file(path: str) -> dict[str, np.ndarray]:
  if path.endswith(".safetensors"):
    from safetensors.numpy import load_file  # pylint: disable=g-import-not-at-top
    return load_file(path)
  state = tc.torch_load(path)
  if not isinstance(state, Mapping):
    raise ValueError(f"{path}: holds a {type(state).__name__}, not a state "
                     "dict")
  return {k: tc.to_numpy(v) for k, v in state.items()}


def renamed(state_dict: Mapping[str, Any]) -> dict[str, Any]:
  """Keys with the old ``vit_unit.`` prefix as ``transf_unit.`` (the
  reference's load hook)."""
  return {(NEW_PREFIX + k[len(OLD_PREFIX):] if k.startswith(OLD_PREFIX)
           else k): v for k, v in state_dict.items()}


def spec_overrides(config: Mapping[str, Any] | None,
                   state_dict: Mapping[str, Any] | None = None
                   ) -> dict[str, Any]:
  """``mantis.create`` fields a checkpoint fixes.

  Width, depth, MLP width, ``num_patches`` and scalar width come from the
  weights' shapes (where given), then config.json's entries override them.
  Without config.json the rest (heads, ``dim_head``, ``seq_len``, scales)
  are the 8M defaults; ``convert`` checks ``num_heads * dim_head`` against
  the weights.
  """
  out: dict[str, Any] = {}
  if state_dict is not None:
    sd = renamed(state_dict)
    shape = lambda key: tuple(sd[key].shape)  # noqa: E731
    blocks = {int(k.split(".")[3]) for k in sd
              if k.startswith(NEW_PREFIX + "transformer.layers.")}
    out.update(width=shape(NEW_PREFIX + "cls_token")[0], depth=len(blocks),
               scalar_dim=shape("tokgen_unit.scalar_encoders.0.encoders.0.w"
                                )[1])
    fc1 = NEW_PREFIX + "transformer.layers.0.1.fn.net.0.weight"
    if fc1 in sd:
      out["mlp_dim"] = shape(fc1)[0]
    pe = NEW_PREFIX + "pos_encoder.pe"
    if pe in sd:
      out["num_patches"] = shape(pe)[0] - 1
  if config is not None:
    out.update({ours: config[theirs] for theirs, ours in CONFIG_FIELDS.items()
                if config.get(theirs) is not None})
    if "scales" in out:
      out["scales"] = tuple(float(s) for s in out["scales"])
  return out


def _linear(sd: tc.StateDict, prefix: str) -> dict[str, Any]:
  """``nn.Linear`` with its (required) bias."""
  return {"kernel": sd[f"{prefix}.weight"].T, "bias": sd[f"{prefix}.bias"]}


def _conv(sd: tc.StateDict, prefix: str) -> dict[str, Any]:
  """``nn.Conv1d`` ``[d, 1, k]`` -> ``[k, 1, d]``, with its bias."""
  return {"kernel": sd[f"{prefix}.weight"].transpose(2, 1, 0),
          "bias": sd[f"{prefix}.bias"]}


def _qkv(sd: tc.StateDict, prefix: str, inner: int, width: int
         ) -> dict[str, Any]:
  w = sd[f"{prefix}.to_qkv.weight"]  # [3 * inner, d]: rows (q | k | v)
  if w.shape != (3 * inner, width):
    raise ValueError(f"{sd.source}: {prefix}.to_qkv.weight has shape "
                     f"{w.shape}, expected {(3 * inner, width)} (num_heads * "
                     f"dim_head = {inner}, width {width}); a checkpoint "
                     "without config.json is read with the 8M head layout")
  return {name: {"kernel": w[j * inner:(j + 1) * inner].T}
          for j, name in enumerate(("query", "key", "value"))}


def _scalar_encoder(sd: tc.StateDict, prefix: str,
                    scales: tuple[float, ...]) -> dict[str, Any]:
  """``MultiScaledScalarEncoder`` -> ``mantis.ScalarEncoder`` (per-scale
  rows stacked)."""
  if f"{prefix}.scales" in sd:
    got = np.asarray(sd[f"{prefix}.scales"], np.float64)
    if got.shape != (len(scales),) or not np.allclose(got, scales,
                                                      rtol=1e-6):
      raise ValueError(f"{sd.source}: {prefix}.scales = {got.tolist()}, "
                       f"model scales {list(scales)}")
  enc = [f"{prefix}.encoders.{j}" for j in range(len(scales))]
  return {"w": np.concatenate([sd[f"{e}.w"] for e in enc]),
          "b": np.concatenate([sd[f"{e}.b"] for e in enc]),
          "norm": {"scale": np.stack([sd[f"{e}.layer_norm.weight"]
                                      for e in enc]),
                   "bias": np.stack([sd[f"{e}.layer_norm.bias"]
                                     for e in enc])}}


def convert(state_dict: Mapping[str, Any],
            config: Mapping[str, Any] | None = None,
            source: str = "Mantis checkpoint") -> MantisWeights:
  """Maps a ``MantisV1`` / ``Mantis8M`` state dict onto our parameter tree.

  Args:
    state_dict: the encoder's weights (arrays or tensors), either key
      generation.
    config: the checkpoint's config.json contents, if any.
    source: name used in error messages.

  Returns:
    The parameters (no head), the ``spec_overrides`` and the keys left out.
  """
  spec = spec_overrides(config, state_dict)
  m = mantis.create("8M", **spec)
  sd = tc.StateDict(renamed(state_dict), source)
  inner = m.num_heads * m.dim_head
  tok = "tokgen_unit"
  tokgen = {
      "conv_diff": _conv(sd, f"{tok}.convs.0.conv"),
      "conv_x": _conv(sd, f"{tok}.convs.1.conv"),
      "norm_diff": tc.layer_norm(sd, f"{tok}.layer_norms.0"),
      "norm_x": tc.layer_norm(sd, f"{tok}.layer_norms.1"),
      "mean_encoder": _scalar_encoder(sd, f"{tok}.scalar_encoders.0",
                                      m.scales),
      "std_encoder": _scalar_encoder(sd, f"{tok}.scalar_encoders.1",
                                     m.scales),
      "proj": _linear(sd, f"{tok}.linear_encoder.linear"),
      "proj_norm": tc.layer_norm(sd, f"{tok}.linear_encoder.layer_norm"),
  }
  encoder = {}
  for i in range(m.depth):
    p = f"{NEW_PREFIX}transformer.layers.{i}"
    attn = _qkv(sd, f"{p}.0.fn", inner, m.width)
    if not (m.num_heads == 1 and m.dim_head == m.width):
      attn["out"] = _linear(sd, f"{p}.0.fn.to_out.0")
    encoder[f"block_{i}"] = {
        "norm1": tc.layer_norm(sd, f"{p}.0.norm"),
        "attn": attn,
        "norm2": tc.layer_norm(sd, f"{p}.1.norm"),
        "mlp": {"fc1": _linear(sd, f"{p}.1.fn.net.0"),
                "fc2": _linear(sd, f"{p}.1.fn.net.3")},
    }
  params = {"tokgen": tokgen, "cls_token": sd[NEW_PREFIX + "cls_token"],
            "encoder": encoder}

  pe_key = NEW_PREFIX + "pos_encoder.pe"
  if pe_key in sd:
    pe = sd[pe_key].reshape(-1, m.width)
    want = layers.sincos_1d(m.num_patches + 1, m.width)
    if pe.shape != want.shape or not np.allclose(pe, want, atol=1e-5):
      raise ValueError(f"{source}: {pe_key} is not the sinusoidal table of "
                       f"{m.num_patches} patches of width {m.width}")
  ignored = [k for k in sd if k.startswith("prj.")]
  sd.mark_used(*ignored)
  sd.assert_all_used()
  params = _as_float32(params)
  tc.check_like(params, _encoder_shapes(m), f"{source} weights")
  return MantisWeights(params, spec, tuple(sorted(ignored)))


def _encoder_shapes(model: mantis.Mantis) -> dict[str, Any]:
  """Parameter shapes of ``model`` without the head (nothing computed)."""
  shapes = jax.eval_shape(
      lambda x: model.init(jax.random.key(0), {"imu": x}, train=False),
      jax.ShapeDtypeStruct((1, model.seq_len, 1), jnp.float32))["params"]
  return {k: v for k, v in shapes.items() if not k.startswith("head")}


def _as_float32(tree: Mapping[str, Any]) -> dict[str, Any]:
  return {k: _as_float32(v) if isinstance(v, Mapping) else
          np.asarray(v, np.float32) for k, v in tree.items()}


def load(path: str) -> dict[str, Any]:
  """``{"params": ...}`` of a ``Mantis`` encoder from a checkpoint directory
  or state-dict file. Build the model with ``mantis.create(...,
  **spec_overrides(*read_checkpoint(path)))``."""
  config, state = read_checkpoint(path)
  weights = convert(state, config, source=path)
  logging.info("Mantis %s: %d blocks, width %d; ignored %s", path,
               len(weights.params["encoder"]),
               weights.params["cls_token"].shape[0], list(weights.ignored))
  return {"params": weights.params}
