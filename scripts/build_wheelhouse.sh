#!/bin/sh
# The Docker image's build stage, and the wheel test: idp's wheel and a wheel of every runtime
# dependency at the version pinned in constraints.txt, with that file, in one folder
# (the wheelhouse) that scripts/install_wheelhouse.sh installs from without any index.
# Usage: scripts/build_wheelhouse.sh OUT_DIR   (PYTHON picks the interpreter; default python3)
set -eu
out="$1"
cd "$(dirname "$0")/.."
# setuptools' scratch folder: files left there by an earlier build (a module since moved
# into a package) would go into this wheel too.
rm -rf build
"${PYTHON:-python3}" -m pip wheel --quiet --wheel-dir "$out" --constraint constraints.txt .
cp constraints.txt "$out/constraints.txt"
