"""What a synthetic worker does: the activities behind the three states.

A state is a label; what the sensor sees is the activity the person is doing
in it, and people fill the same state with different activities:

* working: ``assembly`` (bench work, head pitched down, small hand motion at
  the worker's tempo, fine-work spells, reaches), ``carry`` (walking with a
  load, pauses to pick up and put down), ``lifting`` (bend-and-lift cycles,
  a few steps between lifts), ``tool`` (hammering at 1-3 Hz and/or a driver
  buzzing at 4.5-6 Hz), ``inspect`` (checking parts with a tablet or
  scanner: head down and nearly still, tapping, a few steps between
  stations), ``monitor`` (minding a machine or a process from a seat:
  upright and still, glancing at gauges, pressing a button now and then);
* break: ``sit`` (seated still: breathing, glances, posture shifts),
  ``stroll`` (walking around, looking about), ``phone`` (head down and still,
  thumb scrolling, looking up now and then), ``eat`` (chewing, bites and
  sips), ``chat`` (standing: nods, gestures, weight shifts, a step or two);
* not on person: ``desk`` (static on a surface), ``hung`` (in the pocket of
  a jacket on a hook: a pendulum that swings when bumped), ``machine`` (on a
  running machine: narrow-band vibration), ``carried`` (hand-held on the way
  to where it is put down).

So one person's phone break looks like another's inspection work, a stroll
like carrying, a seated break like machine minding, and a device left in a hung jacket like someone sitting still.

Worn activities write head angles (roll, pitch, yaw), their rates and the
head's linear acceleration (x forward, y left, z up) into a ``Motion`` over
a slice of sample times; ``motion`` blends them, adds gravity and
the device. Not-on-person activities return device-frame acc and gyro.
Everything is an analytic function of time (sinusoids, smooth periodic
pulses), with content below 8 Hz so 30 Hz sampling does not alias.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Dict, Tuple

import numpy as np

from egoimu_jax.input_pipeline.raw.imu_resample import GRAVITY

WORK_TASKS = ("assembly", "carry", "lifting", "tool", "inspect", "monitor")
BREAK_STYLES = ("sit", "stroll", "phone", "eat", "chat")
NOP_PLACES = ("desk", "hung", "machine")
ROLL, PITCH, YAW = 0, 1, 2
_X, _Y, _Z = np.eye(3)
_TWO_PI = 2 * np.pi
NUM_PHASES = 24   # random phases per activity bout
NUM_JITTER = 8    # standard-normal draws per activity bout
# A person's way of doing one activity (Worker.style[kind]): factors on
# their glance rate and event rhythm, a head pitch offset (rad) and a
# factor on the activity's linear acceleration.
STYLE_FIELDS = ("glance", "events", "pitch", "amp")
NO_STYLE = np.array([1.0, 1.0, 0.0, 1.0])


class Motion:
  """Head motion of one activity bout on the sample times ``t`` (s)."""

  def __init__(self, t: np.ndarray, phases: np.ndarray, jitter: np.ndarray,
               style: np.ndarray = NO_STYLE):
    self.t = t
    self.ph = phases
    self.jit = jitter
    self.style = style
    n = t.size
    self.ang = np.zeros((n, 3))
    self.rate = np.zeros((n, 3))
    self.lin = np.zeros((n, 3))

  def sin(self, freq: float, phase: float) -> Tuple[np.ndarray, np.ndarray]:
    """sin and its time derivative at ``freq`` Hz."""
    arg = _TWO_PI * freq * self.t + phase
    return np.sin(arg), _TWO_PI * freq * np.cos(arg)

  def pulse(self, freq: float, phase: float, sharp: float
            ) -> Tuple[np.ndarray, np.ndarray]:
    """Smooth events at ``freq`` Hz: ``((1 + cos) / 2) ** sharp`` in [0, 1].

    The larger ``sharp``, the briefer each event (duty about 1/sqrt(sharp)).
    Returns the value and its time derivative.
    """
    arg = _TWO_PI * freq * self.t + phase
    u = 0.5 + 0.5 * np.cos(arg)
    v = u ** (sharp - 1)
    return v * u, -sharp * v * 0.5 * _TWO_PI * freq * np.sin(arg)

  def turn(self, axis: int, amp: float, freq: float, phase: float,
           env=1.0) -> None:
    """Adds a head oscillation of ``amp`` rad (envelope treated as slow)."""
    s, ds = self.sin(freq, phase)
    self.ang[:, axis] += env * amp * s
    self.rate[:, axis] += env * amp * ds

  def pose(self, axis: int, value, deriv=0.0) -> None:
    """Adds a posture angle (rad) with its rate."""
    self.ang[:, axis] += value
    self.rate[:, axis] += deriv

  def move(self, direction: np.ndarray, amp: float, freq: float, phase: float,
           env=1.0) -> None:
    """Adds linear acceleration ``amp`` m/s² along ``direction``."""
    s, _ = self.sin(freq, phase)
    self.lin += np.outer(env * amp * s, direction)

  def jitter_motion(self, amp: float, lo: float, hi: float, first: int,
                    env=1.0, turn_amp: float = 0.0) -> None:
    """Irregular motion: 3 sinusoids in [lo, hi] Hz on random directions.

    Uses phases ``first .. first + 5``; ``turn_amp`` (rad) adds matching
    head rotation about the pitch and yaw axes.
    """
    ph = self.ph
    for i in range(3):
      frac = (ph[first + i] / _TWO_PI)
      freq = lo + (hi - lo) * frac
      a = ph[first + 3 + i]
      direction = np.array([np.cos(a), np.sin(a), 0.6 * np.cos(2 * a + i)])
      direction /= np.linalg.norm(direction)
      s, ds = self.sin(freq, ph[first + i] * 3.1 + i)
      scaled = env * s * (amp / np.sqrt(3))
      self.lin += np.outer(scaled, direction)
      if turn_amp:
        axis = PITCH if i % 2 == 0 else YAW
        self.ang[:, axis] += env * s * turn_amp
        self.rate[:, axis] += env * ds * turn_amp


def gait(m: Motion, step_hz: float, amp: float, first: int, env=1.0,
         bob: float = 0.02, sway: float = 0.03) -> None:
  """Walking seen from the head: vertical impacts at the step frequency
  (with harmonics), fore-aft surge, lateral sway at the stride frequency.
  Uses phases ``first .. first + 3``."""
  ph = m.ph
  m.move(_Z, amp, step_hz, ph[first], env)
  m.move(_Z, 0.35 * amp, 2 * step_hz, ph[first + 1], env)
  if 3 * step_hz < 7.5:
    m.move(_Z, 0.12 * amp, 3 * step_hz, ph[first + 2], env)
  m.move(_X, 0.45 * amp, step_hz, ph[first] + 1.3, env)
  m.move(_Y, 0.3 * amp, step_hz / 2, ph[first + 3], env)
  m.turn(PITCH, bob, step_hz, ph[first] + 0.7, env)
  m.turn(ROLL, sway, step_hz / 2, ph[first + 3], env)
  m.turn(YAW, 0.6 * sway, step_hz / 2, ph[first + 3] + 1.6, env)


# Habits shared by all of a person's activities: how they look around and
# the rhythm of small events (reaching, looking up, shifting in the seat).
def look_around(m: Motion, wk, amount: float, pace: float, first: int) -> None:
  """Head turns of ``amount`` x the worker's scan, at ``pace`` x their glance
  rate: quick task-locked glances at work (pace > 1), slower, wider looks
  around at rest. Uses phases ``first``, ``first + 1``."""
  a = amount * wk.scan
  f = wk.glance_hz * pace * m.style[0]
  m.turn(YAW, 0.25 * a, f, m.ph[first])
  m.turn(YAW, 0.1 * a, 2.7 * f, m.ph[first + 1])
  m.turn(PITCH, 0.04 * a, 1.3 * f, m.ph[first + 1] + 2.0)


def events(m: Motion, wk, first: int, sharp: float, rate: float = 1.0):
  """Brief events at the worker's rhythm (times ``rate``): (value, rate)."""
  freq = rate * m.style[1] / wk.event_s * (1 + 0.08 * m.jit[first % NUM_JITTER])
  return m.pulse(freq, m.ph[first], sharp)


def _breathing(m: Motion, wk, first: int) -> None:
  m.turn(PITCH, 0.006, wk.breath_hz, m.ph[first])
  m.move(_Z, 0.03, wk.breath_hz, m.ph[first] + 0.3)


def _hands(m: Motion, wk, amp: float, freq: float, first: int, env=1.0) -> None:
  """Hand work felt at the head: the tempo and its harmonics."""
  for h in range(3):
    if (h + 1) * freq < 7.5:
      m.lin += np.outer(amp * wk.harmonics[h] * env *
                        np.sin(_TWO_PI * (h + 1) * freq * m.t + m.ph[first + h]),
                        wk.hand_dirs[h])


# ------------------------------------------------------------------ working
def assembly(m: Motion, wk, day) -> None:
  ph = m.ph
  f = wk.tempo_hz * day.tempo
  v = wk.vigour * day.vigour
  drift, ddrift = m.sin(0.05, ph[0])
  m.pose(PITCH, wk.work_pitch + 0.05 * drift, 0.05 * ddrift)
  # Reaching for parts: the head comes up and turns aside.
  reach, dreach = events(m, wk, 1, 6.0)
  size = min(v, 1.5)
  m.pose(PITCH, -0.2 * size * reach, -0.2 * size * dreach)
  side = 0.3 * size * np.sign(m.jit[1] + 0.3)
  m.pose(YAW, side * reach, side * dreach)
  # Fine-work spells: the hands barely move.
  slow = np.sin(_TWO_PI * 0.037 * m.t + ph[2]) + np.sin(_TWO_PI * 0.061 * m.t + ph[3])
  intensity = 1.0 - wk.fine_depth / (1.0 + np.exp(-3.0 * slow))
  m.turn(PITCH, 0.03 * v, f, ph[4], intensity)
  m.turn(ROLL, 0.02 * v, f, ph[5], intensity)
  look_around(m, wk, 0.5, 1.8, 6)
  _hands(m, wk, 0.45 * v, f, 8, intensity)


def carry(m: Motion, wk, day) -> None:
  ph = m.ph
  step = wk.cadence_hz * wk.carry_pace * day.tempo
  # Stops to pick up or put down the load: the head bends to it.
  stop, dstop = events(m, wk, 0, 8.0, rate=0.8)
  gait(m, step, 0.75 * wk.gait_amp, 1, env=1.0 - stop, bob=0.015, sway=0.02)
  m.pose(PITCH, wk.walk_pitch + wk.look_down + 0.55 * stop, 0.55 * dstop)
  look_around(m, wk, 0.6, 1.2, 5)
  m.move(_Z, 1.0 * wk.vigour * day.vigour, 0.5, ph[7], stop)


def lifting(m: Motion, wk, day) -> None:
  ph = m.ph
  v = wk.vigour * day.vigour
  f = wk.lift_hz * day.tempo
  bend, dbend = m.pulse(f, ph[0], 2.0)
  m.pose(PITCH, 0.15 + 0.8 * bend, 0.8 * dbend)
  m.move(_Z, 1.3 * v, f, ph[0] + 0.5)
  m.move(_Z, 0.6 * v, 2 * f, ph[1])
  m.move(_X, 0.7 * v, f, ph[0] + 2.0)
  m.turn(ROLL, 0.05, 2 * f, ph[2])
  look_around(m, wk, 0.5, 1.2, 3)
  upright = (1.0 - bend) ** 2
  gait(m, wk.cadence_hz * 0.85, 0.7 * wk.gait_amp, 5, env=upright)


def tool(m: Motion, wk, day) -> None:
  ph = m.ph
  v = wk.vigour * day.vigour
  m.pose(PITCH, wk.work_pitch)
  look_around(m, wk, 0.4, 1.8, 0)
  f = wk.tool_hz * day.tempo
  hammer = wk.tool_kind
  if hammer > 0:
    m.move(wk.hand_dirs[0], 1.0 * v * hammer, f, ph[2])
    m.move(wk.hand_dirs[0], 0.5 * v * hammer, 2 * f, ph[3])
    if 3 * f < 7.5:
      m.move(wk.hand_dirs[0], 0.25 * v * hammer, 3 * f, ph[4])
    m.turn(PITCH, 0.02 * hammer, f, ph[2] + 0.4)
  if hammer < 1:
    on, _ = m.pulse(0.07, ph[5], 1.5)
    m.move(wk.hand_dirs[1], 0.25 * (1 - hammer), wk.buzz_hz, ph[6], on)
    m.turn(PITCH, 0.004 * (1 - hammer), wk.buzz_hz, ph[7], on)
    m.jitter_motion(0.2 * v * (1 - hammer), 0.3, 1.2, 8)


def inspect(m: Motion, wk, day) -> None:
  up, dup = events(m, wk, 0, 8.0, rate=1.3)
  m.pose(PITCH, wk.inspect_pitch * (1 - 0.6 * up), -0.6 * wk.inspect_pitch * dup)
  _breathing(m, wk, 1)
  m.jitter_motion(0.06 + 0.2 * wk.vigour * day.vigour, 1.0, 3.0, 2,
                  turn_amp=0.01)
  look_around(m, wk, 0.5, 1.4, 8)
  steps, _ = events(m, wk, 10, 14.0, rate=0.4)
  gait(m, wk.cadence_hz, 0.8 * wk.gait_amp, 11, env=steps)


def monitor(m: Motion, wk, day) -> None:
  drift, ddrift = m.sin(0.02, m.ph[0])
  m.pose(PITCH, wk.rest_pitch + 0.08 + 0.03 * drift, 0.03 * ddrift)
  _breathing(m, wk, 1)
  look_around(m, wk, 0.9, 1.0, 2)
  press, _ = events(m, wk, 4, 16.0, rate=0.6)
  m.jitter_motion(0.5 * wk.vigour * day.vigour, 0.5, 2.0, 5, env=press,
                  turn_amp=0.03)


# ------------------------------------------------------------------ break
def sit(m: Motion, wk, day) -> None:
  drift, ddrift = m.sin(0.03, m.ph[0])
  m.pose(PITCH, wk.rest_pitch + 0.03 * drift, 0.03 * ddrift)
  _breathing(m, wk, 1)
  look_around(m, wk, 1.0, 0.6, 2)
  shift, _ = events(m, wk, 4, 10.0, rate=0.5)
  m.jitter_motion(0.4 * wk.vigour * day.vigour, 0.4, 2.0, 5, env=shift,
                  turn_amp=0.04)
  m.jitter_motion(0.3 * wk.fidget, 0.5, 2.0, 11, turn_amp=0.01)


def stroll(m: Motion, wk, day) -> None:
  step = wk.cadence_hz * wk.stroll_pace * day.tempo
  stop, _ = events(m, wk, 0, 6.0, rate=0.5)
  gait(m, step, wk.gait_amp, 1, env=1.0 - stop)
  m.pose(PITCH, wk.walk_pitch)
  look_around(m, wk, 1.0, 0.6, 5)
  m.jitter_motion(0.2 * wk.fidget, 0.5, 2.0, 7)


def phone(m: Motion, wk, day) -> None:
  up, dup = events(m, wk, 0, 10.0)
  m.pose(PITCH, wk.phone_pitch * (1 - 0.8 * up), -0.8 * wk.phone_pitch * dup)
  m.pose(ROLL, 0.05 * m.jit[1])
  _breathing(m, wk, 1)
  m.jitter_motion(0.05 + 0.25 * wk.fidget, 1.0, 3.0, 2, turn_amp=0.008)
  look_around(m, wk, 0.2, 0.6, 8)


def eat(m: Motion, wk, day) -> None:
  ph = m.ph
  bite, dbite = events(m, wk, 0, 6.0)
  m.pose(PITCH, 0.2 + 0.5 * wk.rest_pitch + 0.15 * bite, 0.15 * dbite)
  chew, _ = m.sin(0.02, ph[1])
  chewing = 0.6 + 0.4 * chew
  m.move(_Z, 0.25, wk.chew_hz, ph[2], chewing)
  m.move(_X, 0.1, 2 * wk.chew_hz, ph[3], chewing)
  m.turn(PITCH, 0.02, wk.chew_hz, ph[2] + 0.5, chewing)
  m.jitter_motion(0.2 * wk.vigour * day.vigour, 0.3, 1.5, 3, env=bite + 0.3)
  look_around(m, wk, 0.6, 0.6, 9)
  _breathing(m, wk, 10)


def chat(m: Motion, wk, day) -> None:
  ph = m.ph
  v = wk.vigour * day.vigour
  m.pose(PITCH, wk.rest_pitch - 0.05)
  talk, _ = m.sin(0.03, ph[0])
  talking = 0.6 + 0.4 * talk
  m.turn(PITCH, 0.06 * v, 0.6 + 0.6 * ph[1] / _TWO_PI, ph[2], talking)
  look_around(m, wk, 1.3, 0.6, 3)
  m.jitter_motion(0.35 * v, 0.5, 2.5, 5, env=talking)
  m.move(_Y, 0.15, 0.25, ph[11])
  m.turn(ROLL, 0.02, 0.25, ph[11] + 0.2)
  steps, _ = events(m, wk, 12, 12.0, rate=0.4)
  gait(m, wk.cadence_hz, 0.8 * wk.gait_amp, 13, env=steps)


def worn(kind: str, t: np.ndarray, wk, day, phases: np.ndarray,
         jitter: np.ndarray, sig=None) -> Motion:
  """The head motion of one bout of a worn activity, in the worker's style
  and, if given, their ``signature.ClassSignature`` of the bout's class."""
  style = wk.style[kind]
  m = Motion(t, phases, jitter, style)
  if sig is not None:
    day = dataclasses.replace(day, tempo=day.tempo * sig.tempo)
  WORN[kind](m, wk, day)
  m.ang[:, PITCH] += style[2]
  m.lin *= style[3]
  if sig is None:
    return m
  if sig.partner is not None and sig.blend > 0:
    other = worn(sig.partner, t, wk, day, phases, jitter)
    for field in ("ang", "rate", "lin"):
      setattr(m, field, (1 - sig.blend) * getattr(m, field)
              + sig.blend * getattr(other, field))
  m.ang[:, ROLL] += sig.roll
  m.ang[:, PITCH] += sig.pitch
  m.lin *= sig.gain
  return m


WORN: Dict[str, Callable] = {
    "assembly": assembly, "carry": carry, "lifting": lifting, "tool": tool,
    "inspect": inspect, "monitor": monitor,
    "sit": sit, "stroll": stroll, "phone": phone, "eat": eat, "chat": chat,
}


# ------------------------------------------------------------ not on person
def device_frame(kind: str, t: np.ndarray, wk, place: np.ndarray,
                 phases: np.ndarray, jitter: np.ndarray
                 ) -> Tuple[np.ndarray, np.ndarray]:
  """acc [n, 3] and gyro [n, 3] of a device not worn, resting as ``place``.

  ``place`` rotates the world into the device frame (rows: device axes).
  """
  g0 = place @ np.array([0.0, 0.0, GRAVITY])      # gravity in device frame
  n = t.size
  acc = np.broadcast_to(g0, (n, 3)).copy()
  gyro = np.zeros((n, 3))
  ph, j = phases, jitter
  if kind == "desk":
    return acc, gyro
  if kind == "hung":
    # A jacket on a hook: a damped pendulum, bumped every minute or so.
    # A free pendulum's accelerometer stays aligned with the string; the
    # swing shows in the gyro, and the cloth flops a little.
    f = 0.7 + 0.3 * ph[0] / _TWO_PI
    period = 40.0 + 10 * abs(j[0])
    since = np.mod(t + ph[1] / _TWO_PI * period, period)
    amp = (0.04 + 0.1 * ph[2] / _TWO_PI) * np.exp(-since / 12.0)
    om = _TWO_PI * f
    axis = place @ np.array([np.cos(ph[3]), np.sin(ph[3]), 0.0])
    swing_rate = amp * om * np.cos(om * t + ph[4])
    gyro += np.outer(swing_rate, axis)
    flop = amp * np.sin(om * t + ph[4])
    acc += np.outer(0.15 * GRAVITY * flop, np.cross(axis, g0 / GRAVITY))
    acc += np.outer(0.5 * GRAVITY * flop ** 2, g0 / GRAVITY)
    return acc, gyro
  if kind == "machine":
    on = 0.75 + 0.25 * np.sin(_TWO_PI * 0.05 * t + ph[0])
    direction = place @ np.array([np.cos(ph[1]), np.sin(ph[1]), 0.8])
    direction /= np.linalg.norm(direction)
    amp = 0.08 + 0.3 * ph[2] / _TWO_PI
    hz = 4.5 + 2.5 * ph[3] / _TWO_PI
    acc += np.outer(amp * on * np.sin(_TWO_PI * hz * t + ph[4]), direction)
    acc += np.outer(0.4 * amp * on * np.sin(_TWO_PI * 0.5 * hz * t + ph[5]),
                    np.roll(direction, 1))
    gyro += np.outer(0.02 * amp * on * np.cos(_TWO_PI * hz * t + ph[4]),
                     np.roll(direction, 2))
    return acc, gyro
  if kind == "carried":
    # Hand-held on the way somewhere: steps, plus the arm's swing.
    m = Motion(t, phases, jitter)
    gait(m, wk.cadence_hz, 0.8 * wk.gait_amp, 0, bob=0.0, sway=0.0)
    s, ds = m.sin(wk.cadence_hz / 2, ph[5])
    swing_axis = place @ _Y
    gyro += np.outer(0.35 * ds, swing_axis)
    acc += m.lin @ place.T
    acc += np.outer(0.35 * GRAVITY * s, np.cross(swing_axis, g0 / GRAVITY))
    return acc, gyro
  raise ValueError(f"unknown not-on-person activity {kind!r}")
