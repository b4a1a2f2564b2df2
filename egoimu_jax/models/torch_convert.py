"""Layout transforms from PyTorch state dicts to linen parameter trees.

Model converters (``variables_from_torch`` next to each model) are built from
these helpers. Nothing here imports torch: a state dict is any mapping from
names to array-likes (``torch.Tensor`` works through ``np.asarray`` once it is
on the CPU and detached; ``to_numpy`` does that by duck typing).

Wrap the state dict in ``StateDict`` to get errors that name the missing key
and, after conversion, the keys nothing consumed (a silent partial load is the
classic converter bug).
"""

from __future__ import annotations

import importlib.util
import os
import pathlib
import types
from typing import Any, Iterable, Mapping, Optional, Sequence

import numpy as np

Params = dict[str, Any]


# Files a raw torch state dict may be saved as (``torch.save``).
TORCH_SUFFIXES = (".pth", ".pt", ".bin")


def torch_load(path: str) -> Any:
  """``torch.load`` of a state-dict file (CPU, weights only). torch is
  imported only here, and its absence is an error that says what to do."""
  if not path.endswith(TORCH_SUFFIXES):
    raise ValueError(f"{path}: unknown checkpoint format; expected "
                     f".safetensors or one of {list(TORCH_SUFFIXES)}")
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ImportError(
        f"{path}: reading {os.path.splitext(path)[1]} checkpoints needs "
        "torch, which is not installed; re-save the state dict as "
        ".safetensors or install torch") from e
  return torch.load(path, map_location="cpu", weights_only=True)


def iswc22_reference(filename: str) -> Optional[types.ModuleType]:
  """A PyTorch model file shipped in ``benchmarkhar`` (the ISWC'22 HAR
  benchmark code, ``_external/iswc22_har/models/<filename>``), loaded on its
  own (the package's ``__init__`` pulls in its training stack). None when
  benchmarkhar is not installed. Parity tests and benchmarks only: executing
  the file imports torch.
  """
  spec = importlib.util.find_spec("benchmarkhar")
  if spec is None:
    return None
  path = (pathlib.Path(spec.origin).parent / "_external" / "iswc22_har" /
          "models" / filename)
  name = "iswc22_" + pathlib.Path(filename).stem.lower()
  mod_spec = importlib.util.spec_from_file_location(name, path)
  module = importlib.util.module_from_spec(mod_spec)
  mod_spec.loader.exec_module(module)
  return module


def to_numpy(value: Any) -> np.ndarray:
  """A copy of a torch tensor (any device, with or without grad) or array.

  Always a copy: ``Tensor.numpy()`` shares memory, and torch updates buffers
  (BatchNorm running statistics) in place.
  """
  if hasattr(value, "detach"):
    value = value.detach().cpu().numpy()
  return np.array(value, copy=True)


class StateDict(Mapping[str, np.ndarray]):
  """A read-only state dict that remembers which keys were read."""

  def __init__(self, state_dict: Mapping[str, Any], source: str = "state dict"):
    self._arrays = {k: to_numpy(v) for k, v in state_dict.items()}
    self._used: set[str] = set()
    self.source = source

  def __getitem__(self, key: str) -> np.ndarray:
    if key not in self._arrays:
      raise KeyError(f"{self.source}: missing key {key!r}")
    self._used.add(key)
    return self._arrays[key]

  def __iter__(self):
    return iter(self._arrays)

  def __len__(self) -> int:
    return len(self._arrays)

  def mark_used(self, *keys: str) -> None:
    """Declares keys deliberately dropped (e.g. counters with no counterpart)."""
    self._used.update(k for k in keys if k in self._arrays)

  def unused(self) -> list[str]:
    return sorted(set(self._arrays) - self._used)

  def assert_all_used(self, ignore: Iterable[str] = ()) -> None:
    left = [k for k in self.unused() if k not in set(ignore)]
    if left:
      raise ValueError(f"{self.source}: keys not converted: {left}")


def conv(sd: Mapping[str, Any], prefix: str) -> Params:
  """``nn.ConvNd``: weight ``[out, in/groups, *k]`` -> kernel ``[*k, in/groups, out]``."""
  w = to_numpy(sd[_key(prefix, "weight")])
  params = {"kernel": np.transpose(w, (*range(2, w.ndim), 1, 0))}
  if _key(prefix, "bias") in sd:
    params["bias"] = to_numpy(sd[_key(prefix, "bias")])
  return params


def linear(sd: Mapping[str, Any], prefix: str,
           input_permutation: np.ndarray | None = None) -> Params:
  """``nn.Linear``: weight ``[out, in]`` -> kernel ``[in, out]``.

  ``input_permutation`` reorders the input rows (see ``flatten_permutation``).
  """
  kernel = to_numpy(sd[_key(prefix, "weight")]).T
  if input_permutation is not None:
    kernel = kernel[input_permutation]
  params = {"kernel": kernel}
  if _key(prefix, "bias") in sd:
    params["bias"] = to_numpy(sd[_key(prefix, "bias")])
  return params


def batch_norm(sd: Mapping[str, Any], prefix: str) -> tuple[Params, Params]:
  """``nn.BatchNormNd`` -> (``params`` {scale, bias}, ``batch_stats`` {mean, var}).

  Momentum differs in convention: torch ``momentum=m`` is linen
  ``momentum=1 - m``. ``num_batches_tracked`` has no linen counterpart.
  """
  params = {"scale": to_numpy(sd[_key(prefix, "weight")]),
            "bias": to_numpy(sd[_key(prefix, "bias")])}
  stats = {"mean": to_numpy(sd[_key(prefix, "running_mean")]),
           "var": to_numpy(sd[_key(prefix, "running_var")])}
  if isinstance(sd, StateDict):
    sd.mark_used(_key(prefix, "num_batches_tracked"))
  return params, stats


def layer_norm(sd: Mapping[str, Any], prefix: str) -> Params:
  """``nn.LayerNorm`` -> {scale, bias}."""
  return {"scale": to_numpy(sd[_key(prefix, "weight")]),
          "bias": to_numpy(sd[_key(prefix, "bias")])}


def _rnn_kernels(sd: Mapping[str, Any], prefix: str, layer: int,
                 input_permutation: np.ndarray | None) -> Params:
  """``kernel_ih`` / ``kernel_hh`` of layer ``layer`` of ``nn.LSTM`` /
  ``nn.GRU`` (the input rows reordered by ``input_permutation``)."""
  _reject_unsupported_rnn(sd, prefix, layer)
  w_ih = to_numpy(sd[_key(prefix, f"weight_ih_l{layer}")]).T
  if input_permutation is not None:
    w_ih = w_ih[input_permutation]
  return {"kernel_ih": w_ih,
          "kernel_hh": to_numpy(sd[_key(prefix, f"weight_hh_l{layer}")]).T}


def lstm(sd: Mapping[str, Any], prefix: str, layer: int = 0,
         input_permutation: np.ndarray | None = None) -> Params:
  """Layer ``layer`` of ``nn.LSTM`` -> ``recurrent.LSTM`` params.

  torch keeps two biases; they only ever appear summed, so they are folded.
  """
  return {**_rnn_kernels(sd, prefix, layer, input_permutation),
          "bias": (to_numpy(sd[_key(prefix, f"bias_ih_l{layer}")]) +
                   to_numpy(sd[_key(prefix, f"bias_hh_l{layer}")]))}


def gru(sd: Mapping[str, Any], prefix: str, layer: int = 0,
        input_permutation: np.ndarray | None = None) -> Params:
  """Layer ``layer`` of ``nn.GRU`` -> ``recurrent.GRU`` params."""
  return {**_rnn_kernels(sd, prefix, layer, input_permutation),
          "bias_ih": to_numpy(sd[_key(prefix, f"bias_ih_l{layer}")]),
          "bias_hh": to_numpy(sd[_key(prefix, f"bias_hh_l{layer}")])}


def flatten_permutation(torch_shape: Sequence[int],
                        axes: Sequence[int]) -> np.ndarray:
  """Index map between two flattenings of the same feature block.

  torch flattens a block of shape ``torch_shape`` in its own axis order; we
  flatten ``transpose(block, axes)``. Row ``j`` of our weight is torch's row
  ``perm[j]``. Example: torch flattens conv features ``[F, C]`` (filters major)
  and we flatten ``[C, F]``: ``flatten_permutation((F, C), (1, 0))``.
  """
  size = int(np.prod(torch_shape))
  return np.arange(size).reshape(torch_shape).transpose(axes).reshape(-1)


def check_like(converted: Any, reference: Any, what: str = "params") -> None:
  """Raises ValueError naming every path whose presence or shape differs.

  ``reference`` is e.g. ``jax.eval_shape(model.init, ...)`` output; leaves
  need only a ``.shape``.
  """
  got, want = _flatten(converted), _flatten(reference)
  problems = [f"missing {p}" for p in sorted(set(want) - set(got))]
  problems += [f"unexpected {p}" for p in sorted(set(got) - set(want))]
  problems += [f"{p}: shape {tuple(got[p].shape)} != {tuple(want[p].shape)}"
               for p in sorted(set(got) & set(want))
               if tuple(got[p].shape) != tuple(want[p].shape)]
  if problems:
    raise ValueError(f"converted {what} do not match the model: " +
                     "; ".join(problems))


def read_safetensors(path: str) -> dict[str, np.ndarray]:
  """Every tensor of one ``.safetensors`` file as numpy (no torch needed);
  bf16 tensors, which numpy cannot hold, as float32 of their values."""
  from safetensors import safe_open  # pylint: disable=g-import-not-at-top
  out, bf16 = {}, []
  with safe_open(path, framework="np") as f:
    for k in f.keys():
      if f.get_slice(k).get_dtype() == "BF16":
        bf16.append(k)
      else:
        out[k] = f.get_tensor(k)
  if bf16:
    with safe_open(path, framework="flax") as f:
      out.update({k: np.asarray(f.get_tensor(k), np.float32) for k in bf16})
  return out


def _key(prefix: str, name: str) -> str:
  """``prefix.name``; a bare module's own state dict has prefix ``''``."""
  return f"{prefix}.{name}" if prefix else name


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
  if isinstance(tree, Mapping):
    out = {}
    for k, v in tree.items():
      out.update(_flatten(v, f"{prefix}/{k}" if prefix else str(k)))
    return out
  return {prefix: tree}


def _reject_unsupported_rnn(sd: Mapping[str, Any], prefix: str,
                            layer: int) -> None:
  for suffix in ("_reverse", ""):
    if _key(prefix, f"weight_hr_l{layer}{suffix}") in sd:
      raise ValueError(f"{prefix or 'RNN'}: LSTM projections (proj_size) are "
                       "not supported")
  if _key(prefix, f"weight_ih_l{layer}_reverse") in sd:
    raise ValueError(f"{prefix or 'RNN'}: bidirectional RNNs are not "
                     "supported")
