"""Clients, registered by kind with lazy loaders: a client's module (and torch, for `embedded`) is imported only
when a deployment of that kind is used (vLLM, for `vllm`, only when its engine starts). A provider in another
package registers with @register_client (docs/models.md, "Add a provider")."""

from harness.clients.base import Client, Setting, SettingError, register_client
from harness.clients.http_settings import HTTP_SETTINGS
from harness.clients.request import Request, Result

__all__ = ["Client", "Request", "Result", "Setting", "SettingError", "register_client"]  # what a provider plug-in uses


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
        from harness.errors import HarnessError

        raise HarnessError("the vllm client runs vLLM in-process, and vLLM is not installed in this environment; "
                           "build its environment with scripts/vllm_env.sh and use .venv-vllm/bin/harness")
    from harness.clients.vllm_offline import VllmOfflineClient

    return VllmOfflineClient


def _anthropic() -> type[Client]:
    from harness.clients.anthropic import AnthropicClient

    return AnthropicClient


def _chance() -> type[Client]:
    from harness.clients.chance import ChanceClient

    return ChanceClient


# The HTTP clients' classes declare the same settings and chat form (checked by tests/test_openai_extras.py).
register_client("openai-compatible", _openai, settings=HTTP_SETTINGS, chat_form="api")
register_client("anthropic", _anthropic, settings=HTTP_SETTINGS, chat_form="always")
register_client("embedded", _embedded)
register_client("chance", _chance)
register_client("vllm-server", _vllm_server, settings=HTTP_SETTINGS, chat_form="api")
register_client("vllm", _vllm_offline)
