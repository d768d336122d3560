"""Separate multiple choice: each choice is scored as a continuation of the prompt, by its log-probability."""

from __future__ import annotations

from collections.abc import Sequence

from harness.adapters.base import LETTERS, Adapter, Prediction
from harness.adapters.prompt import Prompt
from harness.adapters.spec import MULTIPLE_CHOICE_SEPARATE
from harness.clients.request import Request, Result
from harness.instance import Instance


class MultipleChoiceSeparateAdapter(Adapter):
    """One log-probability request per choice, all with the same prompt (completions APIs only: a chat API gives
    no prompt log-probabilities, so chat is refused, field "method"):

        {instructions}
        <blank line>
        {input_prefix}{train input}{input_suffix}{output_prefix}{train output}{output_suffix}{instance_separator}
        ...                                                    <- one line like the above per few-shot example
        {input_prefix}{test input}{input_suffix}{output_prefix.rstrip()}

    followed, in request i, by the continuation

        {sep}{choice i}

    where {sep} is the whitespace the output prefix ends with ("Answer: " -> " "), or one space where it ends in none
    (HellaSwag's endings continue the input). {train output} is the example's first correct choice. Nothing is
    generated (max_tokens 0). A choice's score is its continuation's summed log-probability (spec.choice_score
    "sum"), or that sum divided by its token count ("mean"); the prediction is the highest-scoring choice (the first
    of equals), with every score in choice_logprobs.
    """

    method = MULTIPLE_CHOICE_SEPARATE
    chat_refusal = (
        "multiple_choice_separate needs prompt log-probabilities, which a chat API does not give; "
        "use multiple_choice_joint or a completions deployment"
    )

    def request_count(self, instances: Sequence[Instance]) -> int:
        return sum(len(inst.references) for inst in instances)  # chat is refused for this method

    def requests(self, inst: Instance, prompt: Prompt) -> tuple[Request, ...]:
        sep = self.spec.output_prefix[len(self.spec.output_prefix.rstrip()):] or " "
        return tuple(
            Request(kind="logprob", prompt=prompt.text, continuation=sep + ref.output, max_tokens=0)
            for ref in inst.references
        )

    def read_answers(self, pred: Prediction, inst: Instance, results: Sequence[Result]) -> None:
        mean = self.spec.choice_score == "mean"
        scores = [
            (r.logprob or 0.0) / max(r.continuation_tokens or 1, 1) if mean else (r.logprob or 0.0) for r in results
        ]
        best = max(range(len(scores)), key=scores.__getitem__)
        refs = inst.references
        pred.choice_logprobs = scores
        pred.choice_index, pred.text = best, refs[best].output
        pred.completions = [f"{LETTERS[i]}. {refs[i].output}  (score {s:.3f})" for i, s in enumerate(scores)]
