"""API fuzzing, heavier: `python -m bench.fuzz [--examples 200]` runs tests/test_fuzz.py (schemathesis against a real
`povqa serve` on 127.0.0.1) with that many examples per operation and generation mode, and prints the case count."""

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=200)
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "POVQA_FUZZ_EXAMPLES": str(args.examples)}
    cmd = [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", "tests/test_fuzz.py"]
    sys.exit(subprocess.run(cmd, env=env, cwd=ROOT).returncode)
