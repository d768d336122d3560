"""ModelDeployment: where and how a model is served, loaded from the packaged models.yaml and user files."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.yaml_lines import check_keys, load_yaml


@dataclass(frozen=True)
class ModelDeployment:
    name: str  # what suites and the leaderboard call it, e.g. "google/gemma-3-270m"
    client: str  # a registered client kind: openai-compatible, embedded, chance
    model: str = ""  # the model id sent to the server
    base_url: str = ""
    # Several identical servers (replicas) instead of one base_url: requests go to the one with the fewest
    # outstanding, and move to the others when one dies (harness/clients/replicas.py).
    base_urls: tuple[str, ...] = ()
    api: str = "completions"  # completions or chat (openai-compatible)
    api_key_env: str = ""  # name of the env var holding the key; the key itself is never stored
    max_concurrency: int = 8
    batch_size: int = 1
    context_length: int = 4096
    price_input_per_mtok: float = 0.0  # dollars per million prompt tokens
    price_output_per_mtok: float = 0.0
    timeout_s: float = 120.0
    startup_timeout_s: float = 300.0  # vllm-server: how long to wait for the server to come up before the run
    dtype: str = ""  # vllm (offline engine): float32, bfloat16, ...; "" = the client's default
    max_attempts: int = 4
    rpm: int = 0  # requests-per-minute budget the client paces itself to (openai-compatible); 0 = none
    tpm: int = 0  # tokens-per-minute budget: estimated prompt tokens + max_tokens per request; 0 = none
    description: str = ""

    @property
    def urls(self) -> list[str]:
        return list(self.base_urls) or ([self.base_url] if self.base_url else [])

    @property
    def model_id(self) -> str:
        return self.model or self.name

    def cost(self, prompt_tokens: int | None, completion_tokens: int | None) -> float:
        return ((prompt_tokens or 0) * self.price_input_per_mtok + (completion_tokens or 0) * self.price_output_per_mtok) / 1e6


_FIELDS = {f.name: f for f in fields(ModelDeployment)}
_TYPES: dict[str, type] = {"int": int, "float": float, "str": str}


def _coerce(entry: dict[str, Any], key: str, path: str | Path) -> Any:
    value = entry[key]
    if key == "base_urls":
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise HarnessError("expected a list of URLs", path=str(path), line=entry.line_of(key), field=key)
        return tuple(value)
    wanted = _TYPES[str(_FIELDS[key].type)]
    if wanted is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, wanted) or isinstance(value, bool):
        raise HarnessError(f"expected {wanted.__name__}, got {value!r}", path=str(path), line=entry.line_of(key), field=key)
    return value


def parse_deployments(path: str | Path) -> list[ModelDeployment]:
    from harness.clients.base import client_kinds

    data = load_yaml(path)
    if not isinstance(data, list):
        raise HarnessError("a models file must be a list of deployments", path=str(path), line=getattr(data, "line", 1))
    kinds = client_kinds()
    result = []
    for entry in data:
        entry = check_keys(entry, set(_FIELDS), {"name", "client"}, path, "deployment")
        values = {key: _coerce(entry, key, path) for key in entry}
        if values["client"] not in kinds:
            raise HarnessError(
                f"unknown client {values['client']!r} (known: {', '.join(kinds)})",
                path=str(path), line=entry.line_of("client"), field="client",
            )
        urls = list(values.get("base_urls", ())) or [values.get("base_url", "")]
        if values["client"] in ("openai-compatible", "vllm-server") and not all(u.startswith(("http://", "https://")) for u in urls):
            key = "base_urls" if "base_urls" in values else "base_url"
            raise HarnessError(f"a {values['client']} deployment needs {key}: http(s)://host[:port]/v1",
                               path=str(path), line=entry.line_of(key) if key in entry else entry.line, field=key)
        if values.get("base_urls") and values.get("base_url"):
            raise HarnessError("give base_url or base_urls, not both", path=str(path), line=entry.line_of("base_urls"),
                               field="base_urls")
        if values.get("api", "completions") not in ("completions", "chat"):
            raise HarnessError("api must be 'completions' or 'chat'", path=str(path), line=entry.line_of("api"), field="api")
        for key in ("rpm", "tpm"):
            if values.get(key, 0) < 0:
                raise HarnessError(f"{key} must be 0 (no limit) or more", path=str(path), line=entry.line_of(key), field=key)
        result.append(ModelDeployment(**values))
    return result


def load_deployments(extra_files: list[str] | tuple[str, ...] = ()) -> dict[str, ModelDeployment]:
    """The packaged deployments, then each user file in order; a later entry with the same name wins."""
    # Beside this package's modules (it ships in the wheel as package data); importlib.resources cost ~3 ms a run.
    packaged = Path(__file__).resolve().parents[1] / "models.yaml"
    deployments = {d.name: d for d in parse_deployments(packaged)}
    for path in extra_files:
        deployments.update({d.name: d for d in parse_deployments(path)})
    return deployments
