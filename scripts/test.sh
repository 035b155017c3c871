#!/usr/bin/env bash
# README command 2: set up (if needed), then run the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Two worker processes, one test file each at a time, one torch thread each (tests/conftest.py):
# most tests are too small for two threads to help, so two at once finish sooner.
# GANKIT_TEST_WORKERS=0 runs them in this process.
exec .venv/bin/python -m pytest -n "${GANKIT_TEST_WORKERS:-2}" --dist loadfile "$@"
