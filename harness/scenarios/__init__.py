"""Built-in scenarios. Importing this package registers them by name."""

from harness.scenarios import arc, boolq, gsm8k, hellaswag, humaneval, ifeval, mmlu  # noqa: F401  (registration side effect)
from harness.scenarios import bbq, med_qa, natural_qa, openbookqa, truthfulqa  # noqa: F401
from harness.scenarios import legalbench, math_dataset, narrativeqa, summarization, wmt14  # noqa: F401  (download-only)
