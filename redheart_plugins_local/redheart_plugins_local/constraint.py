"""Schema-constrained decoding: each token the local model writes keeps its reply a prefix of a
JSON document that matches the request's schema, so even a small model gets the structure
right and only the content is its own.

The grammar engine is xgrammar (the one vLLM, SGLang and TensorRT-LLM use). Measured against
lm-format-enforcer on SmolLM2-135M: both cost little per token, but lm-format-enforcer's
transformers integration does not import under transformers 5, and it lets the model reorder
fields and pad with whitespace; xgrammar compiles the schema once into a token mask per state
and writes the fields in schema order.
"""

from __future__ import annotations

import json
from typing import Any

import torch
import transformers


class ConstraintViolation(ValueError):
    """The model wrote a token the grammar forbids: its vocabulary cannot write the schema."""


class SchemaGrammar:
    """Grammars for one tokenizer: each schema compiled once (and kept), a fresh logits
    processor for each generation."""

    def __init__(self, tokenizer: Any, vocab_size: int):
        import xgrammar

        self._xgr = xgrammar
        info = xgrammar.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab_size)
        self._compiler = xgrammar.GrammarCompiler(info, max_threads=1)
        self._compiled: dict[str, Any] = {}

    def processor(self, schema: dict[str, Any]) -> "SchemaLogitsProcessor":
        """A logits processor that holds one generation to ``schema`` (compact JSON)."""
        key = json.dumps(schema)  # in the schema's own order: fields are written in that order
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._compiler.compile_json_schema(key, any_whitespace=False)
            self._compiled[key] = compiled
        return SchemaLogitsProcessor(self._xgr, compiled)


class SchemaLogitsProcessor(transformers.LogitsProcessor):
    """Masks every token the grammar does not allow next; one generation of one sequence."""

    def __init__(self, xgr: Any, compiled: Any):
        self._xgr = xgr
        self._matcher = xgr.GrammarMatcher(compiled)
        self._bitmask = xgr.allocate_token_bitmask(1, compiled.tokenizer_info.vocab_size)
        self._started = False

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if input_ids.shape[0] != 1:
            raise ValueError(f"constrained decoding runs one sequence at a time, got {input_ids.shape[0]}")
        if self._started:  # the token chosen last step, which the matcher has not seen yet
            token = int(input_ids[0, -1])
            if not self._matcher.is_terminated() and not self._matcher.accept_token(token):
                raise ConstraintViolation(f"token {token} breaks the JSON schema: the model's "
                                          "vocabulary cannot write it (set llm.options.constrained=false)")
        self._started = True
        if not self._matcher.is_terminated():
            self._matcher.fill_next_token_bitmask(self._bitmask, 0)
        self._xgr.apply_token_bitmask_inplace(scores, self._bitmask.to(scores.device))
        return scores
