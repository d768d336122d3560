#!/usr/bin/env bash
# Build .venv-helm: crfm-helm (the reference the conformance fixture is cut from) in its own environment, kept apart
# from the dev .venv because crfm-helm pins many packages of its own.  Idempotent: does nothing when
# .venv-helm/.installed exists (delete the folder, or the stamp, to rebuild).
#
#   scripts/helm_env.sh            # from the repo root (or anywhere: it cds to the repo root)
#   PYTHON=python3.11 HELM_VENV=.venv-helm scripts/helm_env.sh
#
# HELM's BLEU and IFEval tokenise sentences with nltk's punkt_tab, which nltk downloads at run time from a host that
# may not be reachable; the llama-index-core wheel on PyPI ships a copy, so it is unpacked into $VENV/nltk_data
# (scripts/helm_fixtures.py points NLTK_DATA there).
set -euo pipefail

cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
VENV="${HELM_VENV:-.venv-helm}"
HELM_VERSION="${HELM_VERSION:-0.5.16}"
LLAMA_INDEX_CORE_VERSION="${LLAMA_INDEX_CORE_VERSION:-0.12.52}"
STAMP="$VENV/.installed"
PY="$VENV/bin/python"

if [[ -f "$STAMP" ]]; then
  echo "helm_env: $VENV is ready ($(cat "$STAMP"))"
  exit 0
fi

start=$(date +%s)
echo "helm_env: building $VENV with crfm-helm==$HELM_VERSION (takes several minutes)" >&2
[[ -x "$PY" ]] || "$PYTHON" -m venv "$VENV"
"$PY" -m pip install -q --upgrade pip
# The CPU builds of torch and torchvision first: otherwise crfm-helm's dependencies pull multi-GB CUDA builds.
"$PY" -m pip install -q torch==2.13.0 torchvision==0.28.0
"$PY" -m pip install -q "crfm-helm==$HELM_VERSION" immutabledict langdetect

# nltk's punkt_tab, from the copy inside llama-index-core's wheel (only its data files are read).
if [[ ! -d "$VENV/nltk_data/tokenizers/punkt_tab" ]]; then
  tmp="$(mktemp -d)"
  "$PY" -m pip download -q --no-deps "llama-index-core==$LLAMA_INDEX_CORE_VERSION" -d "$tmp"
  "$PY" - "$tmp" "$VENV/nltk_data" <<'PYEOF'
import pathlib, sys, zipfile
wheel = next(pathlib.Path(sys.argv[1]).glob("llama_index_core-*.whl"))
dest = pathlib.Path(sys.argv[2])
marker = "_static/nltk_cache/"
with zipfile.ZipFile(wheel) as zf:
    names = [n for n in zf.namelist() if marker in n and not n.endswith("/")]
    if not any("punkt_tab" in n for n in names):
        sys.exit(f"helm_env: no punkt_tab inside {wheel.name}")
    for name in names:
        target = dest / name.split(marker, 1)[1]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(zf.read(name))
PYEOF
  rm -rf "$tmp"
fi

NLTK_DATA="$VENV/nltk_data" "$PY" - <<'PYEOF'
import nltk
nltk.data.find("tokenizers/punkt_tab/english")
from importlib.metadata import version
import helm.benchmark.metrics.evaluate_reference_metrics  # noqa: F401
from helm.benchmark.metrics.ifeval import instructions_registry  # noqa: F401
print(f"helm_env: crfm-helm {version('crfm-helm')}, nltk {nltk.__version__}")
PYEOF

elapsed=$(( $(date +%s) - start ))
echo "crfm-helm==$HELM_VERSION built $(date -u +%Y-%m-%dT%H:%M:%SZ) in ${elapsed}s" > "$STAMP"
echo "helm_env: $VENV built in ${elapsed}s"
