"""The fits import nothing of the report (the report imports them): no
package cycle between ``egoimu_jax.report`` and ``egoimu_jax.scaling``."""

import subprocess
import sys


def test_scaling_imports_no_report():
  code = ("import sys\n"
          "from egoimu_jax.scaling import plots, power_law\n"
          "print(sorted(m for m in sys.modules\n"
          "             if m.startswith(('egoimu_jax.report', 'scaling'))))\n")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                       text=True, check=True).stdout
  assert out.strip() == "[]"
