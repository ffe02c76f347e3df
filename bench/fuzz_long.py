"""The wire fuzzer for longer than CI runs it, with a fresh random seed: run before a release.

    python bench/fuzz_long.py                 # 20,000 sessions (about 500,000 inputs)
    python bench/fuzz_long.py --sessions 2000

It runs tests/fuzz/test_fuzz_wire.py with FUZZ_EXAMPLES set (which also turns off the fixed
seed CI uses) and prints the fuzzer's own summary line: inputs, seconds, the healthy client's
round trips and the attacks tried. A failure prints hypothesis's smallest failing session.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=20_000, help="hypothesis examples")
    args = parser.parse_args()
    env = {**os.environ, "FUZZ_EXAMPLES": str(args.sessions), "FUZZ_MIN_INPUTS": "0"}
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-s",
        str(REPO / "tests" / "fuzz" / "test_fuzz_wire.py"),
    ]
    return subprocess.run(command, env=env, cwd=REPO, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
