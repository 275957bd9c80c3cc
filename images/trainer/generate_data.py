"""Writes a synthetic classification dataset, the same one the trainer's `generated` source makes.

    python generate_data.py --rows 2000 --features 20 --informative 8 --classes 2 --weights 0.7,0.3 \
        --seed 7 --out data/train.parquet
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dataset import DatasetError, synthesize
from spec import GenerateSpec


def _weights(raw: str) -> tuple[float, ...]:
    try:
        weights = tuple(float(w) for w in raw.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers such as 0.7,0.3, got {raw!r}") from None
    if any(w <= 0 for w in weights):
        raise argparse.ArgumentTypeError(f"expected positive weights, got {raw!r}")
    return weights


def _positive(raw: str) -> int:
    if not raw.isdigit() or int(raw) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {raw!r}")
    return int(raw)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="generate_data.py", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=_positive, default=2000)
    parser.add_argument("--features", type=_positive, default=20)
    parser.add_argument("--informative", type=_positive, default=8)
    parser.add_argument("--classes", type=_positive, default=2)
    parser.add_argument("--weights", type=_weights, default=None, help="class fractions, e.g. 0.7,0.3")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--target", default="target", help="name of the class column")
    parser.add_argument("--out", type=Path, required=True, help=".parquet or .csv")
    args = parser.parse_args(argv)
    suffix = args.out.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        parser.error(f"--out {args.out}: expected a .csv or .parquet file name")
    gen = GenerateSpec(args.rows, args.features, args.informative, args.classes, args.weights, args.seed)
    try:
        frame = synthesize(gen, args.target)
    except DatasetError as err:
        parser.error(str(err))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        frame.to_csv(args.out, index=False)
    else:
        frame.to_parquet(args.out, index=False)
    counts = frame[args.target].value_counts().sort_index().to_dict()
    print(f"wrote {args.out}: {len(frame)} rows, {args.features} features, classes {counts}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
