"""ModelDeployment: where and how a model is served, loaded from the packaged models.yaml and user files."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from harness import bounds
from harness.errors import HarnessError
from harness.yaml_lines import LineDict, LineList, check_keys, load_yaml

if TYPE_CHECKING:
    from harness.clients.base import ClientKind, Setting


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
    # The model family it belongs to (e.g. "gemma"): a judge of the same family as a candidate is marked as judging
    # itself (self-preference), as is a judge that is the candidate's own deployment.
    family: str = ""
    # The extra keys its client declares (e.g. headers, extra_body for the HTTP clients), checked against that
    # declaration; every declared key is here, with its default where the models file leaves it out.
    settings: Mapping[str, Any] = field(default_factory=dict, hash=False)

    @property
    def urls(self) -> list[str]:
        return list(self.base_urls) or ([self.base_url] if self.base_url else [])

    @property
    def model_id(self) -> str:
        return self.model or self.name

    def cost(self, prompt_tokens: int | None, completion_tokens: int | None) -> float:
        return ((prompt_tokens or 0) * self.price_input_per_mtok + (completion_tokens or 0) * self.price_output_per_mtok) / 1e6


_FIELDS = {f.name: f for f in fields(ModelDeployment) if f.name != "settings"}
_TYPES: dict[str, type] = {"int": int, "float": float, "str": str}


# The lowest value of each number a deployment has; the flags that override one (--concurrency) use the same rule.
_LIMITS: dict[str, tuple[Callable[..., float], float]] = {
    "max_concurrency": (bounds.at_least, 1), "batch_size": (bounds.at_least, 1), "context_length": (bounds.at_least, 1),
    "max_attempts": (bounds.at_least, 1), "rpm": (bounds.at_least, 0), "tpm": (bounds.at_least, 0),
    "price_input_per_mtok": (bounds.at_least, 0), "price_output_per_mtok": (bounds.at_least, 0),
    "timeout_s": (bounds.above, 0), "startup_timeout_s": (bounds.above, 0),
}


def check_setting(key: str, value: Any, *, field: str, path: str | None = None, line: int | None = None) -> Any:
    """A deployment setting's value, checked against its limit (rpm: 0 means no limit); the field named in the error
    is where the value came from: the models file's key, or the flag that overrides it."""
    if key in _LIMITS:
        check, low = _LIMITS[key]
        check(value, low, field=field, path=path, line=line)
    return value


def check_url(url: str, *, field: str, path: str | None = None, line: int | None = None) -> str:
    """An http(s) URL with a host and, if it names one, a port in 1-65535."""
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError for a port out of range or not a number
    except ValueError as exc:
        raise HarnessError(f"{url!r} is not a valid URL: {exc}", path=path, line=line, field=field) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise HarnessError(f"{url!r}: expected http(s)://host[:port]/v1", path=path, line=line, field=field)
    if port == 0:
        raise HarnessError(f"{url!r}: port must be 1-65535", path=path, line=line, field=field)
    return url


def _coerce(entry: dict[str, Any], key: str, path: str | Path) -> Any:
    value = entry[key]
    if key == "base_urls":
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise HarnessError("expected a list of URLs", path=str(path), line=entry.line_of(key), field=key)
        for i, url in enumerate(value):
            line = value.line_of(i) if isinstance(value, LineList) else entry.line_of(key)
            check_url(url, field=key, path=str(path), line=line)
        return tuple(value)
    wanted = _TYPES[str(_FIELDS[key].type)]
    if wanted is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, wanted) or isinstance(value, bool):
        raise HarnessError(f"expected {wanted.__name__}, got {value!r}", path=str(path), line=entry.line_of(key), field=key)
    if key == "base_url" and value:
        check_url(value, field=key, path=str(path), line=entry.line_of(key))
    return check_setting(key, value, field=key, path=str(path), line=entry.line_of(key))


def _plain(value: Any) -> Any:
    """A YAML value without its line numbers (plain dicts and lists)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _coerce_setting(entry: LineDict, key: str, setting: Setting, path: str | Path) -> Any:
    """A client-declared setting's value, checked by its type and the client's own check."""
    from harness.clients.base import SettingError

    value, line = entry[key], entry.line_of(key)
    if setting.type is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, setting.type) or (isinstance(value, bool) and setting.type is not bool):
        shown = "a mapping" if setting.type is dict else "a list" if setting.type is list else setting.type.__name__
        raise HarnessError(f"expected {shown}, got {value!r}", path=str(path), line=line, field=key)
    if setting.check is not None:
        try:
            setting.check(value)
        except SettingError as exc:
            inner = exc.key if exc.key is not None and isinstance(value, dict) and exc.key in value else None
            at = value.line_of(inner) if inner is not None and isinstance(value, LineDict) else line
            raise HarnessError(str(exc), path=str(path), line=at, field=f"{key}.{inner}" if inner else key) from None
    return _plain(value)


def _client_kind(entry: LineDict, path: str | Path) -> ClientKind:
    from harness.clients.base import client_kind, client_kinds

    name = entry.get("client")
    kind = client_kind(name) if isinstance(name, str) else None
    if kind is None:
        raise HarnessError(f"unknown client {name!r} (known: {', '.join(client_kinds())})",
                           path=str(path), line=entry.line_of("client"), field="client")
    return kind


def parse_deployments(path: str | Path) -> list[ModelDeployment]:
    data = load_yaml(path)
    if not isinstance(data, list):
        raise HarnessError("a models file must be a list of deployments", path=str(path), line=getattr(data, "line", 1))
    result = []
    for i, entry in enumerate(data):
        # A mapping with a name and a client first: which keys it may have besides depends on its client.
        entry = check_keys(entry, set(entry) if isinstance(entry, dict) else set(), {"name", "client"}, path,
                           "deployment", line=data.line_of(i))
        kind = _client_kind(entry, path)  # a plug-in's client is looked for only when none built in has the name
        allowed = set(_FIELDS) | set(kind.settings)
        entry = check_keys(entry, allowed, {"name", "client"}, path, f"{kind.name} deployment", line=data.line_of(i))
        values = {key: _coerce(entry, key, path) for key in entry if key in _FIELDS}
        values["settings"] = {
            key: _coerce_setting(entry, key, setting, path) if key in entry else _plain(setting.default)
            for key, setting in kind.settings.items()}
        if kind.chat_form == "always":
            if values.setdefault("api", "chat") != "chat":
                raise HarnessError(f"the {kind.name} client speaks chat only; leave api out or set api: chat",
                                   path=str(path), line=entry.line_of("api"), field="api")
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
