"""`client: vllm-server`: a vLLM OpenAI-compatible server (`python -m vllm.entrypoints.openai.api_server`).

Requests go through the OpenAI-compatible client unchanged (/v1/completions; `echo` + `logprobs` for
`multiple_choice_separate`, whose first prompt token has no log-probability and is never part of a continuation).
What this adds is a start-up that checks the server before a single request is sent:

- it waits for `GET {base_url}/models` to answer, up to the deployment's `startup_timeout_s` (default 300 s: a
  vLLM server takes 1-2 minutes to start on a CPU), saying so on one line of stderr while it waits;
- the server must serve the deployment's `model` under that name, else the run stops with a one-line error
  (exit 2) naming the models it does serve;
- `api: chat` needs a chat template: a base model without one is an error now, not a prompt silently sent in
  another form;
- `server_info` records what answered (server, version, model name and path, max_model_len), for the run's record.

(vLLM's echoed `text_offset`s count the "<bos>" token's text although the echoed text leaves it out; the
OpenAI-compatible client corrects that for every server: `openai_compatible.fix_echo_offsets`.)

    - name: vllm/gemma-3-270m
      client: vllm-server
      base_url: http://127.0.0.1:8000/v1
      model: gemma-3-270m          # vLLM's --served-model-name (or the path it was started with)
      max_concurrency: 16
      context_length: 2048         # the server's --max-model-len
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING, Any

from harness.clients.http import HttpError, HttpPool, InvalidUrl
from harness.clients.openai_compatible import OpenAICompatibleClient, _message
from harness.clients.request import Request, Result
from harness.clients.secrets import redact
from harness.errors import HarnessError
from harness.progress import note

if TYPE_CHECKING:
    from harness.clients.deployment import ModelDeployment

DEFAULT_STARTUP_TIMEOUT_S = 300.0
POLL_INTERVAL_S = 1.0
PROBE_TIMEOUT_S = 10.0  # one GET while the server starts: it may accept connections before it answers


class VllmServerClient(OpenAICompatibleClient):
    def __init__(self, deployment: ModelDeployment) -> None:
        super().__init__(deployment)  # sets base_url (and, with replicas, urls)
        self.startup_timeout_s = float(getattr(deployment, "startup_timeout_s", DEFAULT_STARTUP_TIMEOUT_S))
        self.server_info: dict[str, str] = {}

    def _server_urls(self) -> list[str]:
        """Every server of the deployment (several when it lists replicas), each ending in /v1."""
        urls = getattr(self, "urls", None) or [self.base_url]
        return [url.rstrip("/") for url in urls]

    async def start(self) -> None:
        """Check every server before the first request, then open the connections (OpenAICompatibleClient)."""
        if not self.server_info:  # the runner starts a client once; a second start checks nothing again
            infos = [await self._check_server(url) for url in self._server_urls()]
            self.server_info = {key: ", ".join(dict.fromkeys(info[key] for info in infos)) for key in infos[0]}
        await super().start()
        if self.fatal:  # cannot happen after the checks above (they parse the same URLs); never send past it
            raise HarnessError(self.fatal, field=f"{self.deployment.name}: base_url")

    async def _check_server(self, url: str) -> dict[str, str]:
        if not url.startswith(("http://", "https://")):
            raise HarnessError("a vllm-server deployment needs base_url: http(s)://host:port/v1",
                               field=f"{self.deployment.name}: base_url")
        try:
            pool = HttpPool(url, self._headers(), PROBE_TIMEOUT_S)
        except InvalidUrl as exc:
            raise HarnessError(f"invalid base_url: {exc}", field=f"{self.deployment.name}: base_url") from None
        try:
            served = await self._wait_for_models(pool, url)
            model = self.deployment.model_id
            entry = next((m for m in served if m.get("id") == model), None)
            if entry is None:
                ids = ", ".join(repr(str(m.get("id"))) for m in served) or "no model"
                raise HarnessError(f"the vLLM server at {url} serves {ids}, not {model!r}; set the deployment's model to "
                                   f"the served name (vLLM's --served-model-name)", field=f"{self.deployment.name}: model")
            if self.deployment.chat:
                await self._check_chat_template(pool, url)
        finally:
            await pool.close()
        max_len = entry.get("max_model_len")
        if isinstance(max_len, int) and self.deployment.context_length > max_len:
            note(f"harness: {self.deployment.name}: context_length {self.deployment.context_length} is more than the "
                 f"server's max_model_len {max_len}; prompts longer than that will fail instead of losing few-shot "
                 f"examples (set context_length: {max_len})")
        return {"server": "vllm", "version": await self._version(url), "model": model,
                "model_root": str(entry.get("root") or ""), "max_model_len": str(max_len or "")}

    async def _wait_for_models(self, pool: HttpPool, url: str) -> list[dict[str, Any]]:
        """The server's model list, waiting for it to come up (connection refused, 5xx: not ready yet)."""
        deadline = time.monotonic() + self.startup_timeout_s
        said, last = False, ""
        while True:
            try:
                response = await pool.get("/models")
                if response.status in (401, 403):
                    raise HarnessError(f"GET {url}/models: HTTP {response.status}: authentication failed "
                                       f"({_message(response.text)}); check ${self.deployment.api_key_env or 'API key'}",
                                       field=self.deployment.name)
                if response.status == 404:
                    raise HarnessError(f"GET {url}/models: HTTP 404: not an OpenAI-compatible server "
                                       f"(base_url should end in /v1)", field=f"{self.deployment.name}: base_url")
                if response.status == 200:
                    data = json.loads(response.body)
                    models = data.get("data") if isinstance(data, dict) else None
                    if isinstance(models, list) and all(isinstance(m, dict) for m in models):
                        return models
                    raise HarnessError(f"GET {url}/models answered no model list: {redact(response.text)[:120]!r}",
                                       field=self.deployment.name)
                last = f"HTTP {response.status}: {_message(response.text)}"
            except (HttpError, ConnectionError, TimeoutError, ValueError) as exc:
                last = str(exc) or type(exc).__name__
            if time.monotonic() >= deadline:
                raise HarnessError(f"no vLLM server answered at {url} within startup_timeout_s="
                                   f"{self.startup_timeout_s:g} s (last: {last})", field=self.deployment.name)
            if not said:
                note(f"harness: waiting for the vLLM server at {url} (up to {self.startup_timeout_s:g} s)")
                said = True
            await asyncio.sleep(min(POLL_INTERVAL_S, max(0.0, deadline - time.monotonic())))

    async def _version(self, url: str) -> str:
        """vLLM's version from GET /version on the server's root (base_url without /v1); "" when it does not say."""
        root = url[: -len("/v1")] if url.endswith("/v1") else url
        try:
            pool = HttpPool(root, self._headers(), PROBE_TIMEOUT_S)
        except InvalidUrl:
            return ""
        try:
            response = await pool.get("/version")
            data = json.loads(response.body) if response.status == 200 else {}
            return str(data.get("version", "")) if isinstance(data, dict) else ""
        except (HttpError, ConnectionError, TimeoutError, ValueError):
            return ""
        finally:
            await pool.close()

    async def _check_chat_template(self, pool: HttpPool, url: str) -> None:
        """An `api: chat` deployment must be served with a chat template: vLLM refuses chat requests without one
        (HTTP 400), and rendering the messages in some other form would evaluate another prompt."""
        body = {"model": self.deployment.model_id, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1,
                "temperature": 0.0}
        try:
            # The server's first request can take a while on a CPU (warm-up): the deployment's own timeout.
            response = await pool.request("POST", "/chat/completions", json.dumps(body).encode(),
                                          timeout_s=self.deployment.timeout_s)
        except (HttpError, ConnectionError, TimeoutError) as exc:
            raise HarnessError(f"the vLLM server at {url} did not answer a chat request: {exc}",
                               field=f"{self.deployment.name}: api") from None
        if response.status == 200:
            return
        message = _message(response.text)
        if "template" in message.lower():
            raise HarnessError(
                f"model {self.deployment.model_id!r} on the vLLM server has no chat template, so api: chat cannot be "
                f"evaluated as written; use api: completions, or start the server with --chat-template",
                field=f"{self.deployment.name}: api")
        raise HarnessError(f"the vLLM server at {url} refused a chat request (HTTP {response.status}: "
                           f"{message})", field=f"{self.deployment.name}: api")

    async def _answer(self, request: Request) -> Result:
        if self.deployment.chat and request.kind == "generate" and not request.messages:
            # The runner built a completions prompt for a chat deployment: sending it to /completions would
            # evaluate a different prompt than the chat form the deployment asks for.
            return Result.failure(f"deployment {self.deployment.name} uses api: chat but the request has no chat "
                                  f"messages; not sent")
        return await super()._answer(request)
