"""Jobs that wait for others (``Job.after``): order, failure propagation,
validation, SLURM dependencies and the jobs that make a sweep's inputs
(``launch.data_first``: preparation, teacher extraction)."""

import os
import textwrap

import pytest

import launch
from launch import Job
from launch import data_jobs
from launch import job_graph
from launch import sweep as sweep_lib
from launch.executors import local, slurm


def job(root, name, after=(), **kw):
  return Job("configs/classical.py:tiny", str(root / name), name=name,
             after=after, **kw)


def started(j):
  return os.stat(os.path.join(j.workdir, "calls.jsonl")).st_mtime_ns


def ended(j):
  return os.stat(os.path.join(j.workdir, j.done_file)).st_mtime_ns


@pytest.mark.parametrize("parallel", [1, 3])
def test_a_job_starts_after_what_it_waits_for(tmp_path, fake_python,
                                              monkeypatch, parallel):
  monkeypatch.setenv("FAKE_SLEEP", "0.3")
  # Listed first, but waits for "prep", which is listed last.
  js = [job(tmp_path, "train_a", after=("prep",)),
        job(tmp_path, "train_b", after=("prep",)),
        job(tmp_path, "report", after=("train_a", "train_b")),
        job(tmp_path, "prep")]
  out = local.LocalExecutor(parallel=parallel, python=fake_python).run(js)
  assert out.ok and [j.name for j in out.finished] == [j.name for j in js]
  a, b, report, prep = js
  assert started(a) >= ended(prep) and started(b) >= ended(prep)
  assert started(report) >= max(ended(a), ended(b))
  if parallel > 1:   # the two that wait for the same job run together
    assert started(b) < ended(a) and started(a) < ended(b)


def test_a_failed_job_stops_only_what_waits_for_it(tmp_path, fake_python,
                                                   monkeypatch):
  monkeypatch.setenv("FAKE_FAIL", "prep_bad")
  js = [job(tmp_path, "prep_bad"), job(tmp_path, "prep_ok"),
        job(tmp_path, "train", after=("prep_bad",)),
        job(tmp_path, "report", after=("train", "other")),
        job(tmp_path, "other", after=("prep_ok",))]
  out = local.LocalExecutor(parallel=2, python=fake_python).run(js)
  assert not out.ok
  assert [j.name for j in out.failed] == ["prep_bad"]
  assert [j.name for j in out.not_run] == ["train", "report"]
  assert [j.name for j in out.finished] == ["prep_ok", "other"]
  assert not os.path.exists(os.path.join(js[2].workdir, "calls.jsonl"))
  assert "2 not run (a job they wait for failed)" in out.summary()


def test_a_job_done_before_counts_as_succeeded(tmp_path, fake_python):
  prep = job(tmp_path, "prep")
  assert local.LocalExecutor(python=fake_python).run([prep]).ok
  out = local.LocalExecutor(python=fake_python).run(
      [prep, job(tmp_path, "train", after=("prep",))])
  assert [j.name for j in out.skipped] == ["prep"]
  assert [j.name for j in out.finished] == ["train"]


def test_unknown_and_circular_waits_are_refused(tmp_path):
  with pytest.raises(job_graph.DependencyError, match="'nope', which is not"):
    job_graph.check([job(tmp_path, "a", after=("nope",))])
  with pytest.raises(job_graph.DependencyError, match="waits for itself"):
    job_graph.check([job(tmp_path, "a", after=("b",)),
                     job(tmp_path, "b", after=("a",))])
  with pytest.raises(launch.SweepError, match="waits for itself"):
    launch.validate([job(tmp_path, "a", after=("a",))], check_overrides=False)
  with pytest.raises(ValueError, match="sequence of job names"):
    job(tmp_path, "a", after="b")
  waves = job_graph.waves([job(tmp_path, "c", after=("b",)),
                           job(tmp_path, "b", after=("a",)),
                           job(tmp_path, "a"), job(tmp_path, "d")])
  assert [[j.name for j in w] for w in waves] == [["a", "d"], ["b"], ["c"]]


def test_only_drops_waits_for_the_jobs_it_leaves_out(tmp_path):
  path = tmp_path / "graph_sweep.py"
  path.write_text(textwrap.dedent("""\
      import launch
      def sweep(arg=None):
        return [launch.Job("configs/classical.py:tiny", "prep", name="prep"),
                launch.Job("configs/classical.py:tiny", "train", name="train",
                           after=("prep",))]
      """))
  _, jobs = sweep_lib.load_sweep(str(path))
  assert [j.after for j in jobs] == [(), ("prep",)]
  _, [train] = sweep_lib.load_sweep(str(path), only="train")
  assert train.after == ()


def test_slurm_submits_waves_with_afterok(tmp_path, fake_python, make_exe,
                                          monkeypatch):
  bin_dir = tmp_path / "slurm_bin"
  make_exe(bin_dir / "sbatch", '#!/bin/bash\n'
           f'echo "$@" >> {bin_dir}/sbatch.calls\n'
           f'echo $((100 + $(wc -l < {bin_dir}/sbatch.calls)))\n')
  monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
  js = [job(tmp_path, "prep"), job(tmp_path, "big", after=("prep",),
                                   num_hosts=2),
        job(tmp_path, "train", after=("prep",)),
        job(tmp_path, "report", after=("train", "big"))]
  ex = slurm.SlurmExecutor(str(tmp_path / "root"), "s", python=fake_python)
  assert len(ex.run(js).submitted) == 4
  calls = (bin_dir / "sbatch.calls").read_text().splitlines()
  scripts = [os.path.basename(c.split()[-1]) for c in calls]
  assert scripts == ["array_1host.sbatch", "array_1host_wave1.sbatch",
                     "array_2host_wave1.sbatch", "array_1host_wave2.sbatch"]
  deps = [[a for a in c.split() if a.startswith("--dependency")]
          for c in calls]
  assert deps == [[], ["--dependency=afterok:101"],
                  ["--dependency=afterok:101"],
                  ["--dependency=afterok:102:103"]]
  assert all("--kill-on-invalid-dep=yes" in c for c in calls[1:])


def test_data_first_prepares_each_dataset_once(tmp_path, fake_python):
  config = "configs/deepconvlstm.py:tiny"
  jobs = [launch.protocol_job(config, "m", "l20wo", f) for f in range(2)]
  jobs.append(launch.protocol_job(
      config, "m", "within", 0,
      overrides={"data.synthetic.num_workers": 12}))
  planned = launch.data_first(jobs)
  prepares = planned[:2]
  assert [j.overrides["job"] for j in prepares] == ["prepare", "prepare"]
  assert prepares[1].overrides["data.synthetic.num_workers"] == 12
  assert all(j.run_globs == () for j in prepares)
  assert [j.after for j in planned[2:]] == [
      (prepares[0].name,), (prepares[0].name,), (prepares[1].name,)]
  assert prepares[0].workdir.startswith(data_jobs.PREPARE_DIR + "/")
  launch.validate(planned)
  resolved = [j.resolve(str(tmp_path)) for j in planned]
  out = local.LocalExecutor(parallel=2, python=fake_python).run(resolved)
  assert out.ok and started(resolved[2]) >= ended(resolved[0])
  assert started(resolved[4]) >= ended(resolved[1])


def test_data_first_extracts_each_teacher_set_once_after_its_data(
    tmp_path, fake_python):
  distill = [launch.protocol_job("configs/comodo.py:tiny", "c", "l20wo", f)
             for f in range(2)]
  plain = launch.protocol_job("configs/deepconvlstm.py:tiny", "m", "l20wo", 0)
  planned = launch.data_first(distill + [plain])
  by_job = {}
  for j in planned:
    by_job.setdefault(j.overrides.get("job"), []).append(j)
  [extract] = by_job["extract_embeddings"]
  assert extract.done_file == "teacher_manifest.json"
  assert extract.workdir.startswith(data_jobs.EXTRACT_DIR + "/")
  prepares = {j.name for j in by_job["prepare"]}
  assert set(extract.after) <= prepares and len(extract.after) == 1
  # The distillation runs wait for the extraction, the IMU model for its data.
  assert [j.after for j in planned if j.name.startswith("c/")] == [
      (extract.name,), (extract.name,)]
  [imu] = [j for j in planned if j.name == plain.name]
  assert len(imu.after) == 1 and imu.after[0] in prepares
  launch.validate(planned)
  resolved = [j.resolve(str(tmp_path)) for j in planned]
  out = local.LocalExecutor(parallel=2, python=fake_python).run(resolved)
  assert out.ok
  ran = {j.name: j for j in resolved}
  assert started(ran[extract.name]) >= ended(ran[extract.after[0]])
  assert started(ran["c/l20wo/fold0"]) >= ended(ran[extract.name])
