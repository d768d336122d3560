"""The chance baseline: a uniform, seeded pick among a multiple-choice item's options, so every leaderboard shows
where chance lies. Generation requests get an empty string; a document (language modelling) is scored as uniform
over the 256 byte values, one token a byte: 8 bits per byte."""

from __future__ import annotations

import hashlib
import math
import random

from string import ascii_uppercase as LETTERS
from harness.clients.base import Client
from harness.clients.request import Request, Result


def _rng(request: Request) -> random.Random:
    digest = hashlib.sha256(f"{request.seed}\0{request.prompt}\0{request.continuation}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


class ChanceClient(Client):
    batch_size = 4096

    async def process(self, batch: list[Request]) -> list[Result]:
        return [self._answer(request) for request in batch]

    @staticmethod
    def _answer(request: Request) -> Result:
        if request.kind == "logprob_rolling":
            size = len(request.continuation.encode("utf-8"))
            return Result(ok=True, logprob=-size * math.log(256), continuation_tokens=size, prompt_tokens=0)
        if request.kind == "logprob":
            # Independent uniform scores per choice: the argmax over an item's choices is uniform among them.
            return Result(ok=True, logprob=-_rng(request).random(), continuation_tokens=1)
        if request.num_choices > 0:
            rng = _rng(request)
            return Result(ok=True, texts=[" " + LETTERS[rng.randrange(request.num_choices)] for _ in range(request.n)])
        return Result(ok=True, texts=[""] * request.n)
