r"""Classical baseline (hand-crafted IMU features + scikit-learn) on the two
main protocols: 5-fold leave-20%-workers-out and within-person, folds 0-4.

  python -m launch.run --sweep=launch/sweeps/classical.py --root=runs/classical \
      --report_dir=runs/classical/report [--tiny]

Arg: ``estimators=rf`` (``+``-separated: ``rf+logreg``), ``folds`` (run folds
0..folds-1; default all: 5, or 3 for the tiny config), ``lowo=N`` (also
leave-one-worker-out over N workers spread in break fraction, one job each;
N = the dataset's worker count tests everyone: the hard-case analysis reads
its difficulty from these), ``tiny`` (the small synthetic dataset),
``seeds`` (each job repeated with seeds 0..seeds-1: ``launch/seeds.py``;
default 1), ``class_weights`` (the policy every model shares: ``balanced``,
default, or ``none``), ``protocols`` (``+``-separated; default
``l20wo+within``; ``fixed`` with ``folds=1`` and ``protocol.preset`` set).
"""

from egoimu_jax.input_pipeline import protocols
import launch
from launch.config_paths import config_for

PROTOCOLS = protocols.gap_pair()   # ("l20wo", "within")


def sweep(arg=None):
  a = launch.parse_arg(arg, tiny=False, estimators="rf", folds=0, lowo=0,
                       seeds=1, class_weights="balanced",
                       protocols="+".join(PROTOCOLS))
  weights = {"class_weights": a.class_weights}
  # configs/classical.py:tiny splits its 6 workers into 3 folds; the full one 5.
  folds = a.folds or (3 if a.tiny else 5)
  jobs = []
  for estimator in a.estimators.split("+"):
    name = f"classical_{estimator}"
    for p in launch.product(protocol=a.protocols.split("+"),
                            fold=range(folds)):
      jobs.append(launch.protocol_job(config_for(name, a.tiny), name,
                                      p["protocol"], p["fold"],
                                      overrides=weights))
    for fold in range(a.lowo):
      jobs.append(launch.protocol_job(
          config_for(name, a.tiny), name, "lowo", fold,
          overrides={"protocol.lowo_count": a.lowo,
                     "protocol.lowo_rule": "spread", **weights}))
  return launch.with_seeds(jobs, a.seeds)
