#!/usr/bin/env bash
# Creates .venv/ in the repository root and installs edgebind with its test, export, openvino, train, sensors and serve extras.
# Safe to run again: pip only installs what is missing. pip's own output goes to .venv/install.log
# and is shown only when the install fails.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "creating .venv/ with $("$PYTHON" --version)"
    "$PYTHON" -m venv .venv
fi
LOG=.venv/install.log
echo "installing edgebind[dev,export,openvino,train,sensors,serve] into .venv/ (the first time downloads the torch stack, several GB)"
if ! { .venv/bin/python -m pip install --upgrade pip \
       && .venv/bin/python -m pip install -e '.[dev,export,openvino,train,sensors,serve]'; } >"$LOG" 2>&1; then
    tail -n 40 "$LOG" >&2
    echo "setup.sh: the install failed; the last lines of $LOG are above" >&2
    exit 1
fi
.venv/bin/python - <<'PY'
from importlib.metadata import version
names = ["edgebind", "torch", "torchvision", "torchaudio", "open_clip_torch", "onnxruntime", "openvino", "av", "fastapi", "uvicorn", "pytest"]
print("installed in .venv/: " + ", ".join(f"{n} {version(n)}" for n in names))
PY
