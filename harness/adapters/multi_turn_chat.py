"""Multi-turn chat: an instance holds several user turns (`extra["turns"]`, a JSON list of strings; an instance
without it is one turn, its input), sent one after another, each with the model's own earlier answers in the
conversation. A turn's request is made only once the answer to the turn before is in (harness/turns.py runs the
rounds), so the second prompt holds what this model said, not a reference answer.

Over a chat API the request for turn t is the messages

    system:    {instructions}                  <- only when there are instructions
    user:      {turn 1}
    assistant: {the model's answer to turn 1, stripped}
    ...                                        <- a user/assistant pair per earlier turn
    user:      {turn t}

and over a completions API (a base model, the embedded one) the same conversation rendered as text:

    {instructions}                             <- this line and the blank line after it only when there are instructions
    <blank line>
    {input_prefix}{turn 1}{input_suffix}{output_prefix}{answer 1, stripped}{output_suffix}{instance_separator}
    ...                                        <- one block like the above per earlier turn
    {input_prefix}{turn t}{input_suffix}{output_prefix.rstrip()}

(MT-Bench's defaults: input_prefix "User: ", output_prefix "Assistant: ", and "\\nUser:" as a stop sequence so a
base model does not write the user's next turn itself.) No few-shot examples: the earlier turns are the context.
The prediction's completions are the answers to each turn in order, its text the last one; the prompt stored for
display is the last turn's, which holds every earlier answer.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace

from harness.adapters.base import Adapter, AdaptedInstance, Prediction, render_messages
from harness.adapters.prompt import FewShotPool
from harness.adapters.spec import MULTI_TURN_CHAT
from harness.clients.request import Result
from harness.errors import HarnessError
from harness.instance import Instance


def turns_of(inst: Instance) -> list[str]:
    """The instance's user turns: `extra["turns"]` when it has them, else its input alone."""
    raw = inst.extra.get("turns")
    if raw is None:
        return [inst.input]
    try:
        turns = json.loads(raw)
    except ValueError:
        turns = None
    if not isinstance(turns, list) or not turns or not all(isinstance(t, str) for t in turns):
        raise HarnessError(f"instance {inst.id}: extra turns must be a JSON list of strings", field="turns")
    return turns


class MultiTurnChatAdapter(Adapter):
    method = MULTI_TURN_CHAT

    def adapt_one(self, inst: Instance, pool: FewShotPool) -> AdaptedInstance:
        return self.adapt_turn(inst, [])

    def adapt_turn(self, inst: Instance, answers: Sequence[str]) -> AdaptedInstance:
        """The instance with the requests of its first len(answers) + 1 turns; the last one holds `answers`."""
        turns = turns_of(inst)
        t = len(answers)
        instructions = self.spec.instructions or self.instructions_for(inst)
        if self.chat:
            messages: list[tuple[str, str]] = [("system", instructions)] if instructions else []
            for question, answer in zip(turns, answers):
                messages += [("user", question), ("assistant", answer.strip())]
            messages.append(("user", turns[t]))
            request = self.generate_request(inst, messages=tuple(messages))
            shown = render_messages(messages)
        else:
            spec = self.spec
            text = instructions + "\n\n" if instructions else ""
            for question, answer in zip(turns, answers):
                text += (spec.input_prefix + question + spec.input_suffix + spec.output_prefix + answer.strip()
                         + spec.output_suffix + spec.instance_separator)
            text += spec.input_prefix + turns[t] + spec.input_suffix + spec.output_prefix.rstrip()
            request = self.generate_request(inst, prompt=text)
            shown = text
        return AdaptedInstance(inst, (request,), shown)

    def next_turn(self, adapted: AdaptedInstance, results: Sequence[Result]) -> AdaptedInstance | None:
        """`adapted` with the next turn's request added (`results`: the answers to its requests so far), or None
        when every turn is asked or an earlier one failed (the instance then has no answer: see predict)."""
        turns = turns_of(adapted.instance)
        if len(results) >= len(turns) or not all(r.ok for r in results):
            return None
        answers = [r.texts[0] if r.texts else "" for r in results]
        following = self.adapt_turn(adapted.instance, answers)
        return replace(adapted, requests=adapted.requests + following.requests, prompt=following.prompt)

    def read_answers(self, pred: Prediction, inst: Instance, results: Sequence[Result]) -> None:
        pred.completions = [r.texts[0] if r.texts else "" for r in results]
        pred.text = pred.completions[-1] if pred.completions else ""
