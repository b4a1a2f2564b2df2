"""The teacher tests' synthetic video datasets, each prepared once per
session: ``teacher_data(**make_data_kwargs)`` returns the shared one.

Tests may add embedding sets under their own names to a shared dataset's
processed dir; they must not change its raw files or shards (copy first)."""

import inspect

import pytest

import teacher_testlib as lib

_DEFAULTS = {name: p.default for name, p in
             inspect.signature(lib.make_data).parameters.items()
             if p.default is not inspect.Parameter.empty}


@pytest.fixture(scope="session")
def teacher_data(tmp_path_factory):
  made = {}

  def get(**kwargs) -> lib.Data:
    key = tuple(sorted({**_DEFAULTS, **kwargs}.items()))
    if key not in made:
      made[key] = lib.make_data(tmp_path_factory.mktemp("teacher_data"),
                                **kwargs)
    return made[key]

  return get
