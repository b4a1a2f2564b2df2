"""A stand-in interpreter for launch tests: ``<fake> -m egoimu_jax.main ...``
records the call and writes results.json (the job's own done marker for
``--config.job=prepare`` and ``extract_embeddings``); anything else runs the real Python.

Env knobs: FAKE_FAIL (regex on the workdir: exit 3), FAKE_NO_RESULTS (regex:
exit 0 without results.json), FAKE_RESULTS=full (a genuine Contract-5 run
with a real split of a small synthetic population, via evaluation.results),
FAKE_SLEEP (seconds).
"""

import stat
import sys
import textwrap

import pytest

FAKE = textwrap.dedent('''\
    #!{python}
    import json, os, re, sys, time
    args = sys.argv[1:]
    if args[:2] != ["-m", "egoimu_jax.main"]:
      os.execv(sys.executable, [sys.executable] + args)
    opts = dict(a[2:].split("=", 1) for a in args[2:])
    workdir = opts["workdir"]
    os.makedirs(workdir, exist_ok=True)
    env = os.environ
    procid = int(env.get("SLURM_PROCID", "0"))
    call = {{"argv": args, "procid": procid, "cwd": os.getcwd(),
             "extra_env": env.get("FAKE_JOB_ENV")}}
    if "SLURM_PROCID" in env:
      from egoimu_jax.training import cluster_env
      s = cluster_env.from_slurm(env)
      call["distributed"] = s and s.kwargs()
    with open(os.path.join(workdir, "calls.jsonl"), "a") as f:
      f.write(json.dumps(call) + "\\n")
    print("fake run of", workdir, flush=True)
    time.sleep(float(env.get("FAKE_SLEEP", "0")))
    if env.get("FAKE_FAIL") and re.search(env["FAKE_FAIL"], workdir):
      print("failing on purpose", file=sys.stderr)
      sys.exit(3)
    if procid != 0 or (env.get("FAKE_NO_RESULTS") and
                       re.search(env["FAKE_NO_RESULTS"], workdir)):
      sys.exit(0)
    marker = {{"prepare": "prepared.json",  # jobs.done_file's markers
              "extract_embeddings": "teacher_manifest.json"}}.get(
                  opts.get("config.job"))
    if marker:
      with open(os.path.join(workdir, marker), "w") as f:
        json.dump({{"fake": True}}, f)
      sys.exit(0)
    if env.get("FAKE_RESULTS") != "full":
      with open(os.path.join(workdir, "results.json"), "w") as f:
        json.dump({{"argv": args}}, f)
      sys.exit(0)
    import numpy as np
    from egoimu_jax.evaluation import results
    from egoimu_jax.input_pipeline import splits
    pcfg = {{k.split(".")[-1]: v for k, v in opts.items()
             if k.startswith("config.protocol.")}}
    pcfg = dict(name=pcfg.get("name", "l20wo"), fold=int(pcfg.get("fold", 0)),
                scale=float(pcfg.get("scale", -1)))
    rng = np.random.default_rng(0)
    pop = splits.Population.from_lists(
        {{f"w{{i:02d}}": [f"w{{i:02d}}c{{j}}" for j in range(10)] for i in range(20)}},
        {{f"w{{i:02d}}": float(rng.uniform(0.05, 0.4)) for i in range(20)}})
    split = splits.make_split(pcfg, pop)
    rng = np.random.default_rng(abs(hash(workdir)) % 2**32)
    workers = np.repeat(split["test_workers"], 30)
    step = np.tile(np.arange(30), len(split["test_workers"]))
    # One dataset: a window's id and label are the same in every run.
    label = (np.array([int(w[1:]) for w in workers]) * 7 + step) % 3
    p_right = 0.9 if pcfg["name"] == "within" else 0.7
    pred = np.where(rng.random(len(workers)) < p_right, label, rng.integers(0, 3, len(workers)))
    probs = np.eye(3)[pred] * 0.8 + 0.2 / 3
    index = np.array([int(w[1:]) for w in workers]) * 100 + step
    preds = results.Predictions(index, [f"{{w}}/{{i}}" for w, i in zip(workers, step)],
                                workers, label, pred, probs)
    results.write(workdir, config={{"protocol": pcfg}}, split=split, model="fakemodel",
                  classes=["working", "break", "not_on_person"], predictions={{"test": preds}})
    ''')


@pytest.fixture
def fake_python(tmp_path):
  path = tmp_path / "bin" / "fake_python"
  path.parent.mkdir(exist_ok=True)
  path.write_text(FAKE.format(python=sys.executable))
  path.chmod(path.stat().st_mode | stat.S_IEXEC)
  return str(path)


@pytest.fixture
def make_exe():
  """Writes an executable file: ``make_exe(path, text) -> str(path)``."""

  def make(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)

  return make
