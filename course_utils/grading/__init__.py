"""A teacher's tools: release student versions of the notebooks and grade submissions (python -m course_utils.grading)."""
from .grade import ExerciseResult, Limits, grade, grade_notebook, load_sources, release
from .notebook import check_cells, student_version

__all__ = ["release", "grade", "grade_notebook", "load_sources", "Limits", "ExerciseResult", "check_cells", "student_version"]
