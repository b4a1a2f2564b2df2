"""The synthetic pilot's vocabulary and generator settings (no imports, so
the config and the generator share them without a cycle)."""

# The pilot's activity states: the synthetic generator's default vocabulary
# (a real dataset states its own: labels.json or data.classes).
PILOT_CLASSES = ("working", "break", "not_on_person")


# The synthetic pilot generator's settings (input_pipeline/synthetic/).
# variant: "jsonl" files or "wds" tar shards (both read through index.csv).
# The full pilot (100 x 130 clips, 97 h at 200 Hz) takes ~10 CPU-min and ~7 GB
# as JSONL (~2.5 GB as wds); video is kept tiny for that size (a demo of ~36 x 8
# clips can afford 96 x 128).
SYNTHETIC_DEFAULTS = dict(
    num_workers=100, clips_per_worker=130, seed=0, clip_seconds=27.0,
    with_video=True, video_size=(48, 64), video_fps=15.0, vfr=False,
    imu_rate_hz=200.0, imu_jitter=0.02, variant="jsonl", wds_imu="frames",
    hard_workers=-1, defects="", num_processes=0,
    # Size of the person shift (synthetic/variation.py): 1 as drawn, 0 every
    # worker the same typical person, between shrinks, above 1 widens.
    person_variation=1.0,
    # A planted person signature (synthetic/signature.py): each worker does
    # each class partly as others do another, with their own tilt, tempo
    # and gain; its size; 0: none.
    person_shift=0.0,
    # ("label=activity", ...): own classes, one per clip (synthetic/generator).
    clip_activities=())
