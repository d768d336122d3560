"""Joint multiple choice: every choice is shown with a letter and the model answers with one letter."""

from __future__ import annotations

import re
from collections.abc import Sequence

from harness.adapters.base import LETTERS, Adapter, Prediction
from harness.adapters.spec import MULTIPLE_CHOICE_JOINT
from harness.clients.request import Result
from harness.instance import Instance


class MultipleChoiceJointAdapter(Adapter):
    """One completion request per instance whose prompt lists the choices, one lettered line each (drawn with the
    default input_suffix "\\n"; the lines follow the input suffix whatever it is):

        {instructions}
        <blank line>
        {input_prefix}{train input}{input_suffix}                  <- per few-shot example: its question,
        A. {train choice 1}                                           its choices and its gold letter
        B. {train choice 2}
        ...
        {output_prefix}{gold letter}{output_suffix}{instance_separator}
        ...
        {input_prefix}{test input}{input_suffix}
        A. {choice 1}
        B. {choice 2}
        ...
        {output_prefix.rstrip()}

    The gold letter is that of the first correct choice. In the chat form (base.py) each example's question and
    choices are a user turn and its gold letter the assistant's reply. The request carries the number of choices
    (Request.num_choices). The prediction is the choice whose letter begins the first completion (parse_letter); a
    reply that names no offered letter has no choice_index, and its stripped text as the text.
    """

    method = MULTIPLE_CHOICE_JOINT

    def instance_block(self, inst: Instance) -> str:
        choices = "".join(f"{LETTERS[i]}. {ref.output}\n" for i, ref in enumerate(inst.references))
        return super().instance_block(inst) + choices

    def gold_output(self, inst: Instance) -> str:
        index = inst.correct_index
        return LETTERS[index] if index is not None else ""

    def num_choices(self, inst: Instance) -> int:
        return len(inst.references)

    def read_answers(self, pred: Prediction, inst: Instance, results: Sequence[Result]) -> None:
        pred.completions = list(results[0].texts)
        first = pred.completions[0] if pred.completions else ""
        pred.choice_index = parse_letter(first, len(inst.references))
        pred.text = inst.references[pred.choice_index].output if pred.choice_index is not None else first.strip()


_LETTER = re.compile(r"^\s*\(?([A-Z])(?:[).:,\s]|$)")


def parse_letter(text: str, n_choices: int) -> int | None:
    """Map a reply to a choice: its first non-space character must be one of the offered letters (optionally in
    parentheses or followed by punctuation). Anything else counts as no valid choice."""
    match = _LETTER.match(text)
    if not match:
        return None
    index = LETTERS.index(match.group(1))
    return index if index < n_choices else None
