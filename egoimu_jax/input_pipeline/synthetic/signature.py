"""A planted person signature: ``person_shift``.

``person_variation`` moves people's traits apart, but most of those traits
(vigour, noise, how often they look around) make the task harder for a model
that has seen the person as much as for one that has not. ``person_shift``
plants what a within-person model can learn from the person's own training
data and a cross-person one cannot: each worker performs each class in
their own consistent way, drawn once per (worker, class) and the same in
every clip and activity of that class:

* a head tilt (roll and pitch offsets, so gravity sits elsewhere in the
  sensor frame),
* a tempo factor on the rhythm (work tempo, cadence, lifting),
* a gain on the linear acceleration.

At shift ``s`` the tilt is ``s`` times a normal draw of ``TILT_STD`` rad and
the factors ``exp(s x draw)``; the draws do not depend on ``s``, so a larger
shift moves each person's signature further along the same direction. At
``s = 0`` there is no signature (the default data, bit for bit). Classes
the device is not worn in (``not_on_person``) are not affected.
"""

from __future__ import annotations

import numpy as np

TILT_STD = 0.3    # rad, roll and pitch offsets at shift 1
TEMPO_STD = 0.25  # log tempo factor at shift 1
GAIN_STD = 0.4    # log gain at shift 1
FIELDS = ("roll", "pitch", "tempo", "gain")


def draw(seed: int, index: int, num_classes: int, shift: float
         ) -> np.ndarray:
  """Worker ``index``'s signature at ``shift``: ``[num_classes, FIELDS]``."""
  if shift < 0:
    raise ValueError(f"person_shift must be >= 0, got {shift}")
  z = np.random.default_rng([seed, 13, index]).normal(size=(num_classes, 4))
  return np.stack([shift * TILT_STD * z[:, 0], shift * TILT_STD * z[:, 1],
                   np.exp(shift * TEMPO_STD * z[:, 2]),
                   np.exp(shift * GAIN_STD * z[:, 3])], axis=1)
