"""Submission values are read as the submitter meant them: numeric class
names are names, and no column is silently ignored."""

import numpy as np
import pytest

from egoimu_jax.evaluation import submission
from egoimu_jax.evaluation import submission_format


def test_numeric_class_names_are_names_not_indices():
  # A dataset whose classes are "1", "2", "3": a perfect submission of names
  # scored 0 when "1" was read as index 1.
  np.testing.assert_array_equal(submission._class_indices(  # pylint: disable=protected-access
      np.array(["1", "2", "3", "1"]), ["1", "2", "3"], "s"), [0, 1, 2, 0])
  with pytest.raises(submission.SubmissionError, match=r"unknown classes \['0'\]"):
    submission._class_indices(np.array(["0", "1"]), ["1", "2", "3"], "s")  # pylint: disable=protected-access
  # Other classes: digits are indices, words are names.
  np.testing.assert_array_equal(submission._class_indices(  # pylint: disable=protected-access
      np.array(["1", "0"]), ["sit", "walk"], "s"), [1, 0])
  np.testing.assert_array_equal(submission._class_indices(  # pylint: disable=protected-access
      np.array(["walk", "sit"]), ["sit", "walk"], "s"), [1, 0])


def test_a_column_that_is_not_read_is_refused(tmp_path):
  path = tmp_path / "p.csv"
  path.write_text("window_id,Pred,prob_a,prob_b\nc/00000000,b,0.9,0.1\n")
  with pytest.raises(submission_format.SubmissionError,
                     match=r"unknown column\(s\) \['Pred'\].*case-sensitive.*"
                     r"did you mean 'pred'"):
    submission_format.read_submission(str(path))
  path.write_text("window_id,pred,prob_a,prob_b\nc/00000000,b,0.9,0.1\n")
  sub = submission_format.read_submission(str(path))
  assert sub.pred.tolist() == ["b"] and sub.classes == ["a", "b"]
