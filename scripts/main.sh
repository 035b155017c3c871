#!/usr/bin/env bash
# README command 1: set up (if needed), then run the main job: reproduce Table 1 of
# Goodfellow et al. (2014). Extra arguments go to `gankit reproduce goodfellow2014`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/gankit reproduce goodfellow2014 --out runs/goodfellow2014 "$@"
