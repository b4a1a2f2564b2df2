"""The fits import nothing of the report (the report imports them): no
package cycle between ``egoimu_jax.report`` and ``egoimu_jax.scaling``."""

import subprocess
import sys


def test_scaling_imports_no_report():
  code = ("import importlib, pkgutil, sys\n"
          "import egoimu_jax.scaling as pkg\n"
          "names = [m.name for m in pkgutil.iter_modules(pkg.__path__)]\n"
          "assert {'plots', 'power_law'} <= set(names), names\n"
          "for n in names:\n"
          "  importlib.import_module(f'egoimu_jax.scaling.{n}')\n"
          "print(sorted(m for m in sys.modules\n"
          "             if m.startswith('egoimu_jax.report')))\n")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                       text=True, check=True).stdout
  assert out.strip() == "[]"
