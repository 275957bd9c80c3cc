"""Makes images/mlflow's modules importable as the mlflow image has them (PYTHONPATH=/app)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
