#!/usr/bin/env bash
# Set up rm-mlflow on a bare machine: a virtualenv with the project (CPU torch from .ci/constraints.txt),
# the dev tools (pytest, ruff, playwright), and Debian's Chromium, which the MLflow UI test drives headless.
# Idempotent: a second run only checks what is there.
set -euo pipefail
cd "$(dirname "$0")"
export PIP_DISABLE_PIP_VERSION_CHECK=1

[ -x .venv/bin/python ] || python3 -m venv .venv
# torch==2.13.0 (CPU build) comes from the machine's local wheel; unpinned torch would pull CUDA wheels.
.venv/bin/pip install -q -c .ci/constraints.txt -e ".[dev]"

if ! command -v chromium >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1; then
        SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
        echo "setup: installing Debian's chromium for the UI test (apt-get) ..."
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
    else
        echo "setup: warning: no chromium and no apt-get; install Chromium yourself for tests/test_ui_compare.py" >&2
    fi
fi
echo "setup: done (.venv ready; activate with '. .venv/bin/activate')"
