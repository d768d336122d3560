"""Generation: the model completes the prompt and its first completion is the prediction."""

from __future__ import annotations

from collections.abc import Sequence

from harness.adapters.base import Adapter, Prediction
from harness.adapters.spec import GENERATION
from harness.clients.request import Result
from harness.instance import Instance


class GenerationAdapter(Adapter):
    """One completion request per instance. The prompt:

        {instructions}
        <blank line>
        {input_prefix}{train input}{input_suffix}{output_prefix}{train output}{output_suffix}{instance_separator}
        ...                                                    <- one line like the above per few-shot example
        {input_prefix}{test input}{input_suffix}{output_prefix.rstrip()}

    The instructions line and the blank line after it appear only when there are instructions (base.py; the chat
    form is drawn there too). {train output} is the example's first correct reference. The request asks for
    spec.num_outputs completions of at most spec.max_tokens tokens, stopping at spec.stop_sequences; the
    prediction's text is the first completion as returned ("" when there is none), its completions all of them.
    """

    method = GENERATION

    def read_answers(self, pred: Prediction, inst: Instance, results: Sequence[Result]) -> None:
        pred.completions = list(results[0].texts)
        pred.text = pred.completions[0] if pred.completions else ""
