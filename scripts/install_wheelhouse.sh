#!/bin/sh
# The Docker image's final stage, and the wheel test: a new virtualenv with idp installed from
# a wheelhouse made by scripts/build_wheelhouse.sh, as a wheel (never editable), at the pinned
# versions, with no package index (what is not in the wheelhouse is an error). The virtualenv
# gets no pip of its own: PYTHON's pip (22.3 or later) installs into it.
# Usage: scripts/install_wheelhouse.sh VENV_DIR WHEELHOUSE   (PYTHON: default python3)
set -eu
venv="$1"
wheelhouse="$2"
python="${PYTHON:-python3}"
"$python" -m venv --without-pip "$venv"
"$python" -m pip --python "$venv/bin/python" install --quiet --no-index --find-links "$wheelhouse" \
  --constraint "$wheelhouse/constraints.txt" idp
