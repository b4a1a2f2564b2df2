"""Readable logs: our progress at INFO, libraries' chatter only from WARNING.

Orbax, grain and JAX log through absl at INFO (checkpoint-manager options,
signalling threads, per-save throughput, backend probing): dozens of lines
per checkpoint that bury the lines a person reads (stage k/n, step, loss,
steps/s, ETA, validation metrics). ``quiet_libraries()`` installs a filter on
the absl and root handlers that drops records below WARNING unless they come
from this project's own code (``egoimu_jax``, ``launch``, ``scaling``).
Warnings and errors pass, but for a short list of known-benign library
warnings (``BENIGN_WARNINGS``); a library's error passes as its one line,
without the traceback its background thread attaches (orbax logs five for
one full disk; the failure reaches our code, which reports it).
``--library_logs`` (main, launch) or ``EGOIMU_LIBRARY_LOGS=1`` keeps
everything.
"""

from __future__ import annotations

import logging
import os

from absl import logging as absl_logging

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OWN_PATHS = tuple(os.path.join(_ROOT, p) + os.sep
                  for p in ("egoimu_jax", "launch", "scaling"))
ENV = "EGOIMU_LIBRARY_LOGS"
# Library warnings known to be benign here, dropped too (substrings).
# orbax warns for every partial restore of a step's ``state`` item, which has
# no step-level metadata file of its own (finetune.restore_pretrained).
BENIGN_WARNINGS = ("_CHECKPOINT_METADATA",)


class OwnCodeFilter(logging.Filter):
  """Passes WARNING and above, and any record logged from our own files."""

  def filter(self, record: logging.LogRecord) -> bool:
    if os.path.abspath(record.pathname).startswith(OWN_PATHS):
      return True
    if record.levelno >= logging.ERROR:
      record.exc_info = record.exc_text = None  # the message says what failed
      return True
    if record.levelno >= logging.WARNING:
      return not any(b in record.getMessage() for b in BENIGN_WARNINGS)
    return False


_FILTER = OwnCodeFilter()


def quiet_libraries(enabled: bool | None = None) -> None:
  """Filters library INFO lines out (``enabled``; default: unless the
  ``EGOIMU_LIBRARY_LOGS`` environment variable is set). Idempotent."""
  if enabled is None:
    enabled = os.environ.get(ENV, "") in ("", "0")
  handlers = [absl_logging.get_absl_handler(), *logging.getLogger().handlers]
  for handler in handlers:
    if enabled:
      if _FILTER not in handler.filters:
        handler.addFilter(_FILTER)
    else:
      handler.removeFilter(_FILTER)
