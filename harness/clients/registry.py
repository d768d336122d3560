"""The client kinds a deployment's `client` may name, each with a lazy loader: a client's module (and torch, for
`embedded`) is imported only when a deployment of that kind is used (vLLM, for `vllm`, only when its engine starts).

This module imports no client at import time, so that deployment parsing can check kinds without loading any."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from harness.errors import HarnessError

if TYPE_CHECKING:
    from harness.clients.base import Client
    from harness.clients.deployment import ModelDeployment


def _openai() -> type[Client]:
    from harness.clients.openai_compatible import OpenAICompatibleClient

    return OpenAICompatibleClient


def _embedded() -> type[Client]:
    from harness.clients.embedded import EmbeddedClient

    return EmbeddedClient


def _vllm_server() -> type[Client]:
    from harness.clients.vllm_server import VllmServerClient

    return VllmServerClient


def _vllm_offline() -> type[Client]:
    import importlib.util

    if importlib.util.find_spec("vllm") is None:  # not imported here: vLLM itself loads when the engine starts
        raise HarnessError("the vllm client runs vLLM in-process, and vLLM is not installed in this environment; "
                           "build its environment with scripts/vllm_env.sh and use .venv-vllm/bin/harness")
    from harness.clients.vllm_offline import VllmOfflineClient

    return VllmOfflineClient


def _chance() -> type[Client]:
    from harness.clients.chance import ChanceClient

    return ChanceClient


_CLIENTS: dict[str, Callable[[], type[Client]]] = {
    "openai-compatible": _openai,
    "embedded": _embedded,
    "chance": _chance,
    "vllm-server": _vllm_server,
    "vllm": _vllm_offline,
}


def client_kinds() -> list[str]:
    return sorted(_CLIENTS)


def client_class(deployment: ModelDeployment) -> type[Client]:
    """The deployment's client class; a missing optional package (torch for `embedded`) is a HarnessError."""
    try:
        return _CLIENTS[deployment.client]()
    except ImportError as exc:
        raise HarnessError(
            f"the {deployment.client} client needs a package that is not installed ({exc.name or exc}); "
            f"install the extra: pip install -e '.[{deployment.client}]'",
            field=deployment.name,
        ) from None


def make_client(deployment: ModelDeployment) -> Client:
    return client_class(deployment)(deployment)
