"""An example provider for harness: `client: echo` answers each request with the last `words` words of its prompt
(of its last message, for chat). A real provider would send the request to its API in `process` instead.

    - name: echo/last-words
      client: echo
      words: 2          # this client's own setting, checked where the models file is read
"""

from __future__ import annotations

from harness.clients import Client, Request, Result, Setting, SettingError, register_client


def _at_least_one(value: int) -> None:
    if value < 1:
        raise SettingError(f"must be at least 1, got {value}")


@register_client("echo")
class EchoClient(Client):
    settings = {"words": Setting(int, default=1, doc="how many words to answer with", check=_at_least_one)}
    chat_form = "api"  # chat messages when the deployment says `api: chat`, else prompts

    async def process(self, batch: list[Request]) -> list[Result]:
        return [self.answer(request) for request in batch]

    def answer(self, request: Request) -> Result:
        if request.kind == "logprob":  # score a continuation: shorter is likelier
            return Result(ok=True, logprob=-float(len(request.continuation)), continuation_tokens=1)
        text = request.messages[-1][1] if request.messages else request.prompt
        words = text.split()[-self.deployment.settings["words"]:]
        return Result(ok=True, texts=[" ".join(words)] * request.n, prompt_tokens=len(text.split()),
                      completion_tokens=len(words))
