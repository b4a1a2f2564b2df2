"""Sweep expansion and early validation; Job command lines; progress/ETA."""

import textwrap

import pytest

import launch
from launch import sweep as sweep_lib
from launch import sweep_progress
from launch.job import format_override


CONFIG = textwrap.dedent('''\
    import ml_collections
    from egoimu_jax import config_lib
    def get_config(arg=None):
      c = config_lib.base(arg, tiny=False)
      c.job = "classical"
      c.model = ml_collections.ConfigDict(dict(name="rf", depth=3))
      c.total_steps = ml_collections.config_dict.placeholder(int)
      return c
    ''')


def write_sweep(tmp_path, body, config=CONFIG):
  cfg = tmp_path / "cfg.py"
  cfg.write_text(config)
  sweep = tmp_path / "my_sweep.py"
  sweep.write_text(textwrap.dedent(body).replace("CFG", str(cfg)))
  return str(sweep), str(cfg)


def test_product_and_zip():
  assert launch.product(a=[1, 2], b="xy") == [
      {"a": 1, "b": "x"}, {"a": 1, "b": "y"}, {"a": 2, "b": "x"}, {"a": 2, "b": "y"}]
  assert launch.zip_axes(a=[1, 2], b="xy") == [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]
  with pytest.raises(launch.SweepError, match="one length"):
    launch.zip_axes(a=[1], b="xy")


def test_protocol_job_naming_and_argv():
  j = launch.protocol_job("configs/x.py:tiny", "deepconvlstm", "worker_scaling", 3,
                          scale=200, overrides={"protocol.lowo_workers": ["a", "b"]})
  assert j.workdir == j.name == "deepconvlstm/worker_scaling/n200/fold3"
  assert j.tags == {"model": "deepconvlstm", "protocol": "worker_scaling", "fold": 3,
                    "scale": 200.0}
  assert launch.protocol_job("c.py", "m", "data_scaling", 0, 0.25).workdir == (
      "m/data_scaling/f0.25/fold0")
  assert launch.protocol_job("c.py", "m", "l20wo", 1, prefix="abl").workdir == "abl/m/l20wo/fold1"
  argv = j.resolve("/r").argv("py")
  assert argv == ["py", "-m", "egoimu_jax.main", "--config=configs/x.py:tiny",
                  "--workdir=/r/deepconvlstm/worker_scaling/n200/fold3",
                  "--config.protocol.name=worker_scaling", "--config.protocol.fold=3",
                  "--config.protocol.scale=200.0",
                  "--config.protocol.lowo_workers=('a', 'b')"]
  assert (format_override(True), format_override(0.5)) == ("True", "0.5")


def test_load_sweep_with_arg(tmp_path):
  path, cfg = write_sweep(tmp_path, '''
      import launch
      def sweep(arg=None):
        a = launch.parse_arg(arg, tiny=False, folds=5)
        config = "CFG" + (":tiny" if a.tiny else "")
        return [launch.protocol_job(config, "rf", p["protocol"], p["fold"])
                for p in launch.product(protocol=["l20wo", "within"], fold=range(a.folds))]
      ''')
  name, jobs = launch.load_sweep(path + ":folds=2", "tiny=True")
  assert name == "my_sweep"
  assert [j.name for j in jobs] == ["rf/l20wo/fold0", "rf/l20wo/fold1",
                                    "rf/within/fold0", "rf/within/fold1"]
  assert jobs[0].config == cfg + ":tiny"


@pytest.mark.parametrize("body, error", [
    ("return []", "expands to no jobs"),
    ("return [launch.Job('configs/nope.py', 'a')]", "config file configs/nope.py does not exist"),
    ("return [launch.Job('CFG', 'a'), launch.Job('CFG', 'a', name='b')]", "duplicate job workdirs"),
    ("return [launch.Job('CFG', 'a', overrides={'protocol.fodl': 1})]",
     "override protocol.fodl=1 does not fit"),
    ("return [launch.Job('CFG', 'a', overrides={'protocol.fold': 'x'})]",
     "override protocol.fold='x' does not fit"),
    ("return [launch.Job('CFG', 'a', overrides={'bad key': 1})]", "bad override key"),
    ("return [launch.Job('CFG', 'a', overrides={'total_steps': 'many'})]",
     "override total_steps='many' does not fit"),
    ("return [launch.Job('CFG:variant=nope,huh=1', 'a')]", "fails to load"),
])
def test_validation_fails_early(tmp_path, body, error):
  path, _ = write_sweep(tmp_path, f'''
      import launch
      def sweep(arg=None):
        {body}
      ''', config=CONFIG.replace("c.job =", "assert c.arg.variant != 'nope'\n  c.job ="))
  with pytest.raises(launch.SweepError, match=error):
    launch.load_sweep(path)


def test_config_needing_a_missing_package_is_not_checked(tmp_path):
  path, _ = write_sweep(tmp_path, """
      import launch
      def sweep(arg=None):
        return [launch.Job("CFG", "a", overrides={"anything.goes": 1})]
      """, config="import not_installed_anywhere\n" + CONFIG)
  assert len(launch.load_sweep(path)[1]) == 1
  path, _ = write_sweep(tmp_path, """
      import launch
      def sweep(arg=None):
        return [launch.Job("CFG", "a")]
      """, config="from egoimu_jax import no_such_module\n" + CONFIG)
  with pytest.raises(launch.SweepError, match="fails to load"):
    launch.load_sweep(path)


def test_load_sweep_missing_file_or_function(tmp_path):
  with pytest.raises(launch.SweepError, match="does not exist"):
    launch.load_sweep(str(tmp_path / "none.py"))
  (tmp_path / "empty.py").write_text("x = 1\n")
  with pytest.raises(launch.SweepError, match="no sweep"):
    launch.load_sweep(str(tmp_path / "empty.py"))


def test_overrides_accept_compatible_types(tmp_path):
  path, _ = write_sweep(tmp_path, '''
      import launch
      def sweep(arg=None):
        return [launch.Job("CFG", "a", overrides={"protocol.scale": 100,
            "protocol.lowo_workers": ["w1"], "model.name": "svm", "input.frames": True,
            "total_steps": 10})]
      ''')
  assert len(launch.load_sweep(path)[1]) == 1


def test_progress_eta():
  now = [0.0]
  lines = []
  p = sweep_progress.Progress(10, parallelism=2, skipped=2, log=lines.append,
                              clock=lambda: now[0])
  assert p.eta() is None
  now[0] = 100.0
  p.job_finished("a", 100.0, True)   # the first job also prepared the data
  now[0] = 110.0
  p.job_finished("b", 10.0, False)
  now[0] = 130.0
  p.job_finished("c", 20.0, True)
  # median 20 s/job, 5 left, 2 at a time -> 50 s.
  assert p.eta() == pytest.approx(50.0)
  assert lines[-1] == ("c finished in 0m20s; 5/10 jobs finished, 2 done before, 1 failed, "
                       "elapsed 2m10s, ETA 0m50s (median 20.0s/job, 2 at a time)")
  polled = sweep_progress.Progress(10, skipped=2, log=lines.append,
                                   clock=lambda: now[0])
  now[0] = 230.0
  polled.observe_done(6)  # 4 new in 100 s, 4 left -> 100 s
  assert polled.eta() == pytest.approx(100.0)
  assert "6/10 jobs finished" in lines[-1] and "ETA 1m40s" in lines[-1]


def test_only_selects_before_overrides_are_checked():
  """An override that fits only the selected jobs' config is accepted."""
  _, jobs = sweep_lib.load_sweep(
      "launch/sweeps/video_models.py:models=videomae", "tiny=True",
      {"total_steps": 50}, only="linear_probe")
  assert jobs and all("linear_probe" in j.name for j in jobs)
  assert all(j.overrides["total_steps"] == 50 for j in jobs)
  with pytest.raises(sweep_lib.SweepError, match="total_steps"):
    sweep_lib.load_sweep("launch/sweeps/video_models.py:models=videomae",
                         "tiny=True", {"total_steps": 50})
  with pytest.raises(sweep_lib.SweepError, match="matches no job"):
    sweep_lib.load_sweep("launch/sweeps/classical.py", "", only="nothing")
