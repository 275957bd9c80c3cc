"""Which scorer fits which task: read from config/scorers.json, the one owner of that partition (the
TypeScript config schema reads the same file). In the trainer image the file sits beside the modules
(/app/scorers.json); in the repository it is config/scorers.json.

Every scikit-learn scorer is higher-is-better (the error metrics are `neg_*`), so the study always
maximises the CV mean, whatever the scorer.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

TASKS = ("classification", "regression")

_HERE = Path(__file__).resolve().parent
#: Beside the trainer (the image), then the repository's config folder.
SCORERS_FILES = (_HERE / "scorers.json", _HERE.parent.parent / "config" / "scorers.json")


class ScorersFileError(Exception):
    """scorers.json is missing or malformed: an install mistake, not the user's."""


@cache
def scorers_by_task() -> dict[str, tuple[str, ...]]:
    path = next((p for p in SCORERS_FILES if p.is_file()), None)
    if path is None:
        raise ScorersFileError(f"scorers.json not found (looked at {', '.join(map(str, SCORERS_FILES))})")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise ScorersFileError(f"{path}: cannot read: {err}") from None
    if not isinstance(raw, dict) or not all(isinstance(raw.get(t), list) for t in TASKS):
        raise ScorersFileError(f"{path}: expected {{{', '.join(f'{t!r}: [names]' for t in TASKS)}}}")
    return {task: tuple(str(name) for name in raw[task]) for task in TASKS}


def task_of_scorer(scoring: str) -> str | None:
    """The task whose list holds the scorer, or None for a name in neither list."""
    return next((task for task, names in scorers_by_task().items() if scoring in names), None)


def scoring_problem(scoring: str, task: str | None) -> str | None:
    """Why `scoring` does not fit `task` (None: it fits; a None task only needs a known name)."""
    fits = task_of_scorer(scoring)
    if fits is None:
        known = ", ".join(f"{t}: {', '.join(names)}" for t, names in scorers_by_task().items())
        return f"unknown scorer {scoring!r}: expected a scikit-learn scorer name ({known})"
    if task is not None and fits != task:
        return f"{scoring!r} is a {fits} scorer but the task is {task}: expected one of {', '.join(scorers_by_task()[task])}"
    return None
