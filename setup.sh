#!/usr/bin/env bash
# Creates .venv/ in the repository root and installs edgebind with its test and export extras.
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[dev,export,train]'
echo "edgebind installed in .venv/ ($(.venv/bin/python -c 'import torch; print("torch", torch.__version__)'))"
