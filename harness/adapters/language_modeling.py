"""Language modelling: the log-likelihood of whole documents, for bits-per-byte and perplexity."""

from __future__ import annotations

from collections.abc import Sequence

from harness.adapters.base import AdaptedInstance, Adapter, Prediction
from harness.adapters.prompt import FewShotPool
from harness.adapters.spec import LANGUAGE_MODELING
from harness.clients.request import Request, Result
from harness.instance import Instance


class LanguageModelingAdapter(Adapter):
    """One rolling log-likelihood request per document (completions APIs only: a chat API gives no prompt
    log-probabilities, so chat is refused, field "method"). Nothing is prepended, nothing generated:

        <BOS>{document}                      <- the model scores every token of {document}, the instance's input

    Where the document is longer than the model's context, the client cuts it into rolling windows (as
    lm-evaluation-harness's loglikelihood_rolling does; harness.clients.rolling):

        window 1:  <BOS> t_1 ... t_{L-1}               scores t_1 ... t_L
        window k:  the max_len tokens before its new ones    scores only tokens no earlier window scored

    so every token is scored once, conditioned on as much of the text before it as fits. Instructions, prefixes,
    few-shot examples and max_tokens do not apply. The prediction carries the document's summed log-probability
    (nats) and its token count; harness.metrics.language_modeling turns them into bits per byte, bits per token
    and perplexity, summed over the corpus before dividing.
    """

    method = LANGUAGE_MODELING
    chat_refusal = (
        "language_modeling needs prompt log-probabilities, which a chat API does not give; "
        "use a completions deployment"
    )

    def adapt_one(self, inst: Instance, pool: FewShotPool) -> AdaptedInstance:
        request = Request(kind="logprob_rolling", continuation=inst.input, max_tokens=0)
        return AdaptedInstance(inst, (request,), inst.input)

    def read_answers(self, pred: Prediction, inst: Instance, results: Sequence[Result]) -> None:
        result = results[0]
        if result.logprob is None or result.continuation_tokens is None:
            pred.error = "the client gave no document log-probability (it cannot score kind logprob_rolling)"
            return
        pred.text = ""  # nothing generated; the scores are in logprob
        pred.logprob, pred.logprob_tokens = result.logprob, result.continuation_tokens
