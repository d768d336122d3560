"""Request and Result, as the clients know them: they live in harness.records, below both the clients and the store
(the store keys and stores them, and must import nothing from the layers above it)."""

from harness.records import DIGEST_HEX, Request, RequestKind, Result, digest

__all__ = ["DIGEST_HEX", "Request", "RequestKind", "Result", "digest"]
