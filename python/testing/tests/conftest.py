"""Tests of the shared test helpers themselves (python/testing); pytester runs a pytest inside a test."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

pytest_plugins = ["pytester"]
