"""Clients, registered by kind with lazy loaders: a client's module (and torch, for `embedded`) is imported only
when a deployment of that kind is used."""

from harness.clients.base import Client, register_client


def _openai() -> type[Client]:
    from harness.clients.openai_compatible import OpenAICompatibleClient

    return OpenAICompatibleClient


def _embedded() -> type[Client]:
    from harness.clients.embedded import EmbeddedClient

    return EmbeddedClient


def _chance() -> type[Client]:
    from harness.clients.chance import ChanceClient

    return ChanceClient


register_client("openai-compatible", _openai)
register_client("embedded", _embedded)
register_client("chance", _chance)
