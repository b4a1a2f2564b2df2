"""A planted person signature: ``person_shift``.

``person_variation`` moves people's traits apart, but most of those traits
(vigour, noise, how often they look around) make the task harder for a model
that has seen the person as much as for one that has not. ``person_shift``
plants what a within-person model can learn from the person's own training
data and a cross-person one cannot: each worker performs each class in
their own consistent way, drawn once per (worker, class) and the same in
every clip and activity of that class:

* partly the way others perform another class: the motion is blended with
  a partner activity of another class (weight ``blend``), so one person's
  sitting looks partly like others' phone use;
* a head tilt (roll and pitch offsets: gravity sits elsewhere in the sensor
  frame), a tempo factor on the rhythm, and a gain on the linear
  acceleration.

At shift ``s`` the blend is ``min(1, s x BLEND_RANGE draw)``, the tilt ``s``
times a normal draw of ``TILT_STD`` rad and the factors ``exp(s x draw)``;
the draws do not depend on ``s``, so a larger shift moves each person's
signature further along the same direction. At ``s = 0`` there is no
signature (the default data, bit for bit). Classes the device is not worn
in (``not_on_person``) are not affected.
"""

from __future__ import annotations

import dataclasses
from typing import List, Optional, Sequence

import numpy as np

TILT_STD = 0.3            # rad, roll and pitch offsets at shift 1
TEMPO_STD = 0.25          # log tempo factor at shift 1
GAIN_STD = 0.4            # log gain at shift 1
BLEND_RANGE = (0.4, 0.8)  # blend weight with the partner at shift 1


@dataclasses.dataclass(frozen=True)
class ClassSignature:
  """How one worker performs one class."""
  roll: float
  pitch: float
  tempo: float
  gain: float
  partner: Optional[str]   # a worn activity of another class, or None
  blend: float


def draw(seed: int, index: int, class_kinds: Sequence[Sequence[str]],
         shift: float) -> List[ClassSignature]:
  """Worker ``index``'s signature at ``shift``, one per class;
  ``class_kinds``: each class's worn activities (none: not worn)."""
  if shift < 0:
    raise ValueError(f"person_shift must be >= 0, got {shift}")
  rng = np.random.default_rng([seed, 13, index])
  out = []
  for c in range(len(class_kinds)):
    z = rng.normal(size=4)
    u, b = rng.uniform(), rng.uniform(*BLEND_RANGE)
    others = [k for j, kinds in enumerate(class_kinds) if j != c
              for k in kinds if k not in class_kinds[c]]
    out.append(ClassSignature(
        roll=shift * TILT_STD * z[0], pitch=shift * TILT_STD * z[1],
        tempo=float(np.exp(shift * TEMPO_STD * z[2])),
        gain=float(np.exp(shift * GAIN_STD * z[3])),
        partner=others[int(u * len(others))] if others else None,
        blend=min(1.0, shift * b) if others else 0.0))
  return out
