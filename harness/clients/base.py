"""Client: the interface every backend implements, and the registry that maps a deployment's `client` to it."""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar

from harness.clients.request import Request, Result
from harness.clients.secrets import api_key, redact
from harness.text import clean

if TYPE_CHECKING:
    from harness.clients.deployment import ModelDeployment


class Client(ABC):
    """Processes batches of requests. The executor keeps up to `concurrency` batches of up to `batch_size`
    requests in flight: HTTP clients take batches of one with high concurrency, local engines large batches one
    at a time (run in a worker thread so the event loop keeps storing results)."""

    batch_size: int = 1
    concurrency: int = 1
    supports_logprobs: bool = True
    # What a client declares for the models file (read by @register_client): the extra keys a deployment of it may
    # set, checked like the built-in ones and found in deployment.settings; and which form its requests take:
    # "never" chat (prompts), "always" chat (messages), or as the deployment's `api:` says.
    settings: ClassVar[Mapping[str, Setting]] = {}
    chat_form: ClassVar[ChatForm] = "never"

    def __init__(self, deployment: ModelDeployment) -> None:
        self.deployment = deployment
        self.concurrency = max(1, deployment.max_concurrency)
        self.batch_size = max(1, deployment.batch_size)
        api_key(deployment)  # its value is redacted from everything this process stores or prints from here on

    @classmethod
    def check(cls, deployment: ModelDeployment) -> None:
        """Raise a HarnessError when the deployment cannot work as configured (an environment variable it names is
        not set): called for every deployment of a run before the first request."""

    async def start(self) -> None:
        """Open connections / load weights. Called once before the first batch."""

    async def close(self) -> None:
        """Release what `start` acquired."""

    @abstractmethod
    async def process(self, batch: list[Request]) -> list[Result]:
        """Answer every request of the batch, in order. Must not raise for a failed request: return
        Result.failure(reason) for it."""


class LocalEngineClient(Client):
    """A model run in this process (the embedded transformers model, vLLM's offline engine): each batch goes to
    `_run` in a worker thread, so the event loop keeps storing results, and each request's latency is its share of
    the batch's time (the engine answers a batch at once)."""

    async def process(self, batch: list[Request]) -> list[Result]:
        started = time.perf_counter()
        try:
            await self.start()
            results = await asyncio.to_thread(self._run, batch)
        except Exception as error:  # noqa: BLE001  (a client never raises out of process)
            results = [Result.failure(f"{type(error).__name__}: {error}".strip()) for _ in batch]
        per_request = (time.perf_counter() - started) / max(1, len(batch))
        for result in results:
            result.latency_s = per_request
        return results

    @abstractmethod
    def _run(self, batch: list[Request]) -> list[Result]:
        """Answer the batch, in order (in a worker thread; may raise: the whole batch then fails with the reason)."""


def from_outside(result: Result) -> Result:
    """A result's texts and error as harness keeps them: characters that cannot be stored or shown replaced
    (harness.text.clean), and every API key redacted (harness.clients.secrets). The executor passes every answer of
    every client through it as it arrives; cheap for the common answer, which needs neither."""
    texts = result.texts
    for i, text in enumerate(texts):
        safe = redact(clean(text))
        if safe is not text:
            texts[i] = safe
    if result.error is not None:
        result.error = redact(clean(result.error))
    return result


ChatForm = Literal["never", "always", "api"]
C = TypeVar("C", bound=type[Client])


class SettingError(ValueError):
    """A setting's value is wrong; `key` names the item of a mapping that is (for its line in the models file)."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True)
class Setting:
    """An extra models-file key a client reads: its type (str, int, float, bool, dict or list), the value a
    deployment that leaves it out gets, and an optional check that raises SettingError for a bad value."""

    type: type
    default: Any = None
    doc: str = ""
    check: Callable[[Any], None] | None = None


@dataclass(frozen=True)
class ClientKind:
    """A registered client: how to load its class, and what the models file needs to know without loading it."""

    name: str
    load: Callable[[], type[Client]]
    settings: Mapping[str, Setting] = field(default_factory=dict)
    chat_form: ChatForm = "never"
    plugin: str = ""  # the entry point that registered it ("" for a built-in client)


_CLIENTS: dict[str, ClientKind] = {}
_loading_plugin = ""  # the entry point being loaded, for the kinds it registers


def register_client(kind: str, loader: Callable[[], type[Client]] | None = None, *,
                    settings: Mapping[str, Setting] | None = None, chat_form: ChatForm = "never") -> Any:
    """Register a client kind. As a class decorator (how a plug-in package does it, see docs/models.md):

        @register_client("echo")
        class EchoClient(Client):
            settings = {"suffix": Setting(str, default="")}
            ...

    takes the settings and chat form from the class. The built-in clients register a loader instead, with what the
    class declares given here, so that their modules (and e.g. torch) are imported only when used."""
    if kind in _CLIENTS:
        raise ValueError(f"client {kind!r} registered twice ({_CLIENTS[kind].plugin or 'built in'} and "
                         f"{_loading_plugin or 'built in'})")
    if loader is not None:
        _CLIENTS[kind] = ClientKind(kind, loader, dict(settings or {}), chat_form, _loading_plugin)
        return loader

    def decorate(cls: C) -> C:
        if not (isinstance(cls, type) and issubclass(cls, Client)):
            raise TypeError(f"@register_client({kind!r}) decorates a subclass of harness.clients.base.Client")
        _CLIENTS[kind] = ClientKind(kind, lambda: cls, dict(cls.settings), cls.chat_form, _loading_plugin)
        return cls

    return decorate


_PLUGINS_LOADED = False


def load_client_plugins() -> None:
    """Import the modules other packages declare under the `harness.clients` entry-point group, so a provider in
    your own package registers itself without forking this one. Only when a deployment names a client that is not
    built in (finding entry points reads every installed package's metadata, which costs every command)."""
    global _PLUGINS_LOADED, _loading_plugin
    if _PLUGINS_LOADED:
        return
    _PLUGINS_LOADED = True
    from importlib.metadata import entry_points

    import harness.clients  # noqa: F401  (first: a plug-in that takes a built-in client's name is reported)
    from harness.errors import HarnessError

    for entry in entry_points(group="harness.clients"):
        _loading_plugin = f"plug-in {entry.name!r} ({entry.value})"
        try:
            entry.load()
        except Exception as exc:  # a broken plug-in must say which one, not take the CLI down with a traceback
            raise HarnessError(f"cannot load client plug-in {entry.name!r} ({entry.value}): {exc}") from None
        finally:
            _loading_plugin = ""


def client_kind(kind: str) -> ClientKind | None:
    """The registered client `kind`, looking in the plug-ins when it is not built in; None when none has it."""
    import harness.clients  # noqa: F401  (registers the built-in clients)

    if kind not in _CLIENTS:
        load_client_plugins()
    return _CLIENTS.get(kind)


def client_kinds(plugins: bool = True) -> list[str]:
    import harness.clients  # noqa: F401

    if plugins:
        load_client_plugins()
    return sorted(_CLIENTS)


def client_class(deployment: ModelDeployment) -> type[Client]:
    """The deployment's client class; a missing optional package (torch for `embedded`) is a HarnessError."""
    from harness.errors import HarnessError

    kind = client_kind(deployment.client)
    if kind is None:
        raise HarnessError(f"unknown client {deployment.client!r} (known: {', '.join(client_kinds())})",
                           field=deployment.name)
    try:
        return kind.load()
    except ImportError as exc:
        raise HarnessError(
            f"the {deployment.client} client needs a package that is not installed ({exc.name or exc}); "
            f"install the extra: pip install -e '.[{deployment.client}]'",
            field=deployment.name,
        ) from None


def uses_chat(deployment: ModelDeployment) -> bool:
    """Whether the deployment's requests take the chat form (messages) rather than a prompt: as its client declares
    (a chat-only API always, an OpenAI-compatible server as its `api:` says)."""
    kind = client_kind(deployment.client)
    form = kind.chat_form if kind is not None else "never"
    return form == "always" or (form == "api" and deployment.api == "chat")


def make_client(deployment: ModelDeployment) -> Client:
    return client_class(deployment)(deployment)
