r"""``python -m egoimu_jax.datasets NAME --out=DIR``: a public dataset in the
raw layout, ready for ``prepare`` with no override.

  python -m egoimu_jax.datasets hapt --out=/data/hapt            # 6 activities
  python -m egoimu_jax.datasets hapt --out=/data/hapt_all --classes=all
  python -m egoimu_jax.datasets hapt --out=/tmp/hapt3 --people=3  # for tests

``--subjects`` picks people by the dataset's subject numbers (``1,2,3``),
``--people=N`` the first N. Datasets: ``egoimu_jax/datasets/__init__.py``;
docs/datasets.md. A user mistake prints one line and exits with status 2.
"""

from absl import app
from absl import flags

from egoimu_jax import cli
from egoimu_jax import errors
from egoimu_jax.datasets import DATASETS
from egoimu_jax.datasets import base
from egoimu_jax.datasets import layout_writer

_OUT = flags.DEFINE_string("out", "", "Directory to write (new or empty).")
_CLASSES = flags.DEFINE_string(
    "classes", "", "Class set of the dataset (hapt: basic = the 6 "
    "activities, all = 12 with the postural transitions); default: its first.")
_PEOPLE = flags.DEFINE_integer("people", 0, "Only the first N people (0: all).")
_SUBJECTS = flags.DEFINE_list("subjects", [], "Only these subjects, e.g. 1,2,3.")


def choose_subjects(dataset: base.PublicDataset, subjects, people: int):
  """The subject keys to write, in the dataset's order."""
  known = list(dataset.people())
  if subjects and people:
    raise base.DatasetError("give --people or --subjects, not both")
  if subjects:
    unknown = [s for s in subjects if s not in known]
    if unknown:
      raise base.DatasetError(f"{dataset.name} has no subject(s) {unknown}; "
                              f"its subjects are {', '.join(known)}")
    return [s for s in known if s in set(subjects)]
  if people < 0 or people > len(known):
    raise base.DatasetError(f"--people={people}: {dataset.name} has "
                            f"{len(known)} people")
  return known[:people] if people else known


def run(name: str) -> str:
  if name not in DATASETS:
    raise base.DatasetError(f"unknown dataset {name!r}; known: "
                            f"{', '.join(DATASETS.names())}"
                            f"{errors.did_you_mean(name, DATASETS.names())}")
  if not _OUT.value:
    raise base.DatasetError("--out=DIR is required")
  dataset = DATASETS.get(name)()
  class_set = _CLASSES.value or next(iter(dataset.class_sets))
  if class_set not in dataset.class_sets:
    raise base.DatasetError(f"--classes={class_set!r}: {name} has "
                            f"{', '.join(dataset.class_sets)}")
  subjects = choose_subjects(dataset, _SUBJECTS.value, _PEOPLE.value)
  s = layout_writer.write(_OUT.value, dataset, class_set, subjects)
  return (f"{name} ({class_set}): {s['workers']} people, {s['clips']} clips, "
          f"{s['segments']} segments, {s['labelled_samples']} of "
          f"{s['samples']} samples labelled -> {s['out']}")


def main(argv):
  with cli.exit_on_user_error():
    if len(argv) != 2:
      raise app.UsageError("name one dataset: python -m egoimu_jax.datasets "
                           f"NAME --out=DIR; known: {', '.join(DATASETS.names())}")
    print(run(argv[1]))


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
