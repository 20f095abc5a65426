#!/usr/bin/env bash
# Python with PyTorch and ONNX, used by the model-intake tests to write real test models
# (scripts/models/make-fixtures.py). Nothing is started: this only checks the packages are there.
# apt: python3-torch python3-onnx
set -euo pipefail
if ! /usr/bin/python3 -c 'import torch, onnx, numpy' >/dev/null 2>&1; then
  echo "python-ml: /usr/bin/python3 cannot import torch and onnx; install the Debian packages python3-torch python3-onnx" >&2
  exit 1
fi
