#!/usr/bin/env bash
# Set up everything vitalskills needs on a fresh Linux machine, then run a command in it.
#
#   scripts/setup.sh                     # set up only
#   scripts/setup.sh pytest              # set up, then run the test suite
#   scripts/setup.sh vitalskills run tasks/plug_in_socket.vtl
#
# Steps, each skipped when already done: system libraries for headless MuJoCo
# rendering (EGL and OSMesa, via apt when running as root), uv, and the locked
# Python environment in .venv (uv sync --frozen, with the optional Ray extra).
set -euo pipefail
cd "$(dirname "$0")/.."

missing_debs=()
have_lib() { ldconfig -p 2>/dev/null | grep -q "$1"; }
have_lib 'libEGL.so.1 ' || missing_debs+=(libegl1)
have_lib 'libEGL_mesa.so.0 ' || missing_debs+=(libegl-mesa0)
have_lib 'libOSMesa.so' || missing_debs+=(libosmesa6)
ls /usr/lib/*/dri/swrast_dri.so >/dev/null 2>&1 || ls /usr/lib/*/dri/libdril_dri.so >/dev/null 2>&1 \
  || missing_debs+=(libgl1-mesa-dri)
# Headless Chromium renders `vitalskills report` pages in the end-to-end tests.
command -v chromium >/dev/null || missing_debs+=(chromium)
if [ ${#missing_debs[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing system packages: ${missing_debs[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing_debs[@]}" >/dev/null
  else
    echo "setup: headless rendering needs: ${missing_debs[*]} (install them, e.g. with sudo apt-get install)" >&2
  fi
fi

if command -v uv >/dev/null; then
  uv=(uv)
else
  if ! python3 -m uv --version >/dev/null 2>&1; then
    echo "setup: installing uv" >&2
    python3 -m pip install --quiet uv 2>/dev/null \
      || python3 -m pip install --quiet --user --break-system-packages uv
  fi
  uv=(python3 -m uv)
fi

"${uv[@]}" sync --frozen --all-extras --quiet
export MUJOCO_GL="${MUJOCO_GL:-egl}"
if [ $# -gt 0 ]; then
  exec "${uv[@]}" run --frozen "$@"
fi
