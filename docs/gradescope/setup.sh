#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image (Ubuntu).
# It installs backcheck into its own virtual environment.
set -euo pipefail
apt-get install -y -q python3 python3-venv python3-pip >/dev/null
python3 -m venv /autograder/venv
# A wheel in this folder (pip wheel /path/to/backcheck -w .) wins; else the index.
wheel=$(ls /autograder/source/backcheck-*.whl 2>/dev/null | head -n 1 || true)
/autograder/venv/bin/pip install --quiet "${wheel:-backcheck}"
/autograder/venv/bin/backcheck --version
