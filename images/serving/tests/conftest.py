"""Makes the serving modules importable and provides the real MLflow server fixture."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "python" / "testing"))

from mlflow_testing import add_workload_to_path, mlflow_server  # noqa: E402,F401  (fixture)

add_workload_to_path("serving")
