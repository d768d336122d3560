"""AdapterSpec: how instances become prompts. Everything that changes a prompt is a field here, so the spec stored
with a run says exactly how its prompts were made."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

GENERATION = "generation"
MULTIPLE_CHOICE_JOINT = "multiple_choice_joint"
MULTIPLE_CHOICE_SEPARATE = "multiple_choice_separate"
MULTI_TURN_CHAT = "multi_turn_chat"
LANGUAGE_MODELING = "language_modeling"
METHODS = (GENERATION, MULTIPLE_CHOICE_JOINT, MULTIPLE_CHOICE_SEPARATE, MULTI_TURN_CHAT, LANGUAGE_MODELING)


@dataclass(frozen=True)
class AdapterSpec:
    method: str = GENERATION
    instructions: str = ""  # placed first, followed by a blank line
    input_prefix: str = ""
    input_suffix: str = "\n"
    output_prefix: str = ""
    output_suffix: str = "\n"
    instance_separator: str = "\n"  # between few-shot examples and before the evaluated instance
    max_train_instances: int = 0  # few-shot examples
    fewshot_split: str = "train"  # drawn from here (never from the evaluated split)
    max_tokens: int = 16
    stop_sequences: tuple[str, ...] = ("\n",)
    temperature: float = 0.0
    num_outputs: int = 1
    seed: int = 0  # few-shot sampling and sampled decoding
    # multiple_choice_separate: "sum" ranks choices by the summed log-probability of their tokens, "mean" by the
    # mean per token (length-normalised, as lm-eval's acc_norm does by characters).
    choice_score: str = "sum"
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["stop_sequences"] = list(self.stop_sequences)
        data.pop("extra")
        return data


# A suite entry's (or scenario file's) key -> (the AdapterSpec field it sets, its expected type)
ADAPTER_FIELDS: dict[str, tuple[str, type | tuple[type, ...]]] = {
    "method": ("method", str), "shots": ("max_train_instances", int), "instructions": ("instructions", str),
    "input_prefix": ("input_prefix", str), "input_suffix": ("input_suffix", str),
    "output_prefix": ("output_prefix", str), "output_suffix": ("output_suffix", str),
    "instance_separator": ("instance_separator", str), "max_tokens": ("max_tokens", int),
    "stop": ("stop_sequences", list), "temperature": ("temperature", (int, float)),
    "num_outputs": ("num_outputs", int), "seed": ("seed", int), "fewshot_split": ("fewshot_split", str),
    "choice_score": ("choice_score", str),
}
