"""In-process LLM backend: a prepared transformers folder loaded once, used when no vLLM server runs.

It answers the same requests as the HTTP backend. Concurrent callers do not
queue behind a lock: each request becomes a job for the decode engine
(agent.llm.engine), which prefills its prompt once and decodes its n samples
together with every other caller's rows, step by step, as vLLM batches
requests. Regex constraints are enforced token by token (agent.llm.constrain),
JSON schemas by validate-and-resample. A caller whose request is not done by
its timeout gets a BackendError, like a server that did not answer.
"""

from __future__ import annotations

import re
import time
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from agent.config import get_settings
from agent.llm.base import BackendError, Generation, GenerationRequest, check_constraint
from agent.llm.constrain import (INVALID, TokenConstraint, UnsupportedPattern, Validator, Vocabulary, json_validator,
                                 regex_validator)
from agent.llm.engine import DecodeEngine, EngineError, Job, supports

DEFAULT_DTYPE = torch.float32
# Resampling rounds for constraints enforced only by checking (JSON schemas, regexes outside the automaton subset).
MAX_RESAMPLES = 3


@dataclass
class _Sample:
    text: str
    finish: str
    tokens: int


@dataclass(frozen=True)
class _Plan:
    """How one request is constrained: a token mask, a final check, or both (a regex gets both)."""

    constraint: TokenConstraint | None
    validator: Validator | None


class EmbeddedBackend:
    """`LLMBackend` over a local model folder (the prepared SmolLM2, or a tiny test model)."""

    name = "embedded"

    def __init__(self, model_dir: Path | str, threads: int | None = None, dtype: torch.dtype = DEFAULT_DTYPE,
                 max_resamples: int = MAX_RESAMPLES, adapter_dir: Path | str | None = None) -> None:
        """Load the folder now, so that a broken model fails at start-up rather than on a user's request.

        `threads` sets torch's intra-op threads for the whole process (torch has no
        per-model setting). `adapter_dir` is a peft LoRA adapter (finetune.llm)
        merged into the weights on load, so decoding costs what the base model
        costs; the model id then names both, so every answer says which weights gave it.
        """
        torch.set_num_threads(threads or get_settings().torch_threads)
        self.model_dir = Path(model_dir)
        self.adapter_dir = Path(adapter_dir) if adapter_dir is not None else None
        self.model_id = self.model_dir.name + (f"+lora:{self.adapter_dir.name}" if self.adapter_dir else "")
        self.dtype = dtype
        self.max_resamples = max_resamples
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.model_dir, local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(self.model_dir, dtype=dtype, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise BackendError(f"cannot load a model from {self.model_dir}: {exc}") from exc
        if self.adapter_dir is not None:
            from finetune.llm.artifact import apply_adapter

            try:
                model = apply_adapter(model, self.adapter_dir)
            except (OSError, ValueError, RuntimeError) as exc:  # missing files, or shapes of another base model
                raise BackendError(f"cannot apply the LoRA adapter {self.adapter_dir} to {self.model_dir}: {exc}") from exc
        if (problem := supports(model)) is not None:
            raise BackendError(f"the embedded backend cannot decode {self.model_dir}: {problem}")
        self.model = model.eval()
        eos = self.model.generation_config.eos_token_id
        eos = self.tokenizer.eos_token_id if eos is None else eos
        self._eos_ids: tuple[int, ...] = tuple(eos) if isinstance(eos, list) else (eos,)
        self._max_positions: int = getattr(self.model.config, "max_position_embeddings", 2048)
        self._vocabulary: Vocabulary | None = None
        self._constraints: dict[str, TokenConstraint | None] = {}
        self.engine = DecodeEngine(self.model)

    def healthy(self) -> bool:
        """Loaded means healthy: there is no server that could have gone away."""
        return self.model is not None

    def close(self) -> None:
        """Stop the decode thread; callers still waiting get a BackendError."""
        self.engine.close()

    def __repr__(self) -> str:
        adapter = f", adapter_dir={str(self.adapter_dir)!r}" if self.adapter_dir else ""
        return f"EmbeddedBackend({str(self.model_dir)!r}{adapter}, dtype={str(self.dtype).removeprefix('torch.')!r})"

    # ------------------------------------------------------------------ generation

    def generate(self, request: GenerationRequest) -> Generation:
        started = time.monotonic()
        deadline = started + request.timeout_s
        validator = _validator(request)  # first: a malformed request is a ValueError before any work
        plan = _Plan(self._constraint(request.regex), validator)
        prompt_ids = self._encode(request)
        samples, generated = self._sample_valid(prompt_ids, request, plan, deadline)
        return Generation(texts=[s.text for s in samples], finish_reasons=[s.finish for s in samples],
                          backend=self.name, model=self.model_id, prompt_tokens=len(prompt_ids),
                          completion_tokens=generated, latency_s=time.monotonic() - started)

    def _sample_valid(self, prompt_ids: list[int], request: GenerationRequest, plan: _Plan,
                      deadline: float) -> tuple[list[_Sample], int]:
        """Sample n; when only a check enforces the constraint, resample the failures a few times.

        Returns the samples and the number of tokens generated, discarded
        resamples included (that is what the request cost). A sample that ends
        normally but fails the check is marked INVALID; one cut by max_tokens
        stays "length", because the fix (more tokens) differs.
        """
        samples = self._sample(prompt_ids, request, request.n, plan.constraint, deadline, request.seed)
        generated = sum(s.tokens for s in samples)
        check = plan.validator
        if check is not None and plan.constraint is None and request.temperature > 0:
            for round_ in range(1, self.max_resamples + 1):
                failed = [index for index, sample in enumerate(samples) if not check(sample.text)]
                if not failed or time.monotonic() >= deadline:
                    break
                # Each round draws from its own seed: the request's seed again would redraw the same failures.
                seed = None if request.seed is None else request.seed * 1_000_003 + round_
                fresh = self._sample(prompt_ids, request, len(failed), None, deadline, seed)
                generated += sum(s.tokens for s in fresh)
                for index, sample in zip(failed, fresh, strict=True):
                    samples[index] = sample
        if check is not None:
            for sample in samples:
                if sample.finish == "stop" and not check(sample.text):
                    sample.finish = INVALID
        return samples, generated

    def _sample(self, prompt_ids: list[int], request: GenerationRequest, count: int,
                constraint: TokenConstraint | None, deadline: float, seed: int | None) -> list[_Sample]:
        """`count` samples as one engine job (greedy decodes one row and repeats it)."""
        sampling = request.temperature > 0
        stop = request.stop
        job = Job(prompt_ids=prompt_ids, rows=count if sampling else 1, max_tokens=request.max_tokens,
                  temperature=request.temperature, top_p=request.top_p, eos_ids=self._eos_ids, deadline=deadline,
                  seed=seed, constraint=constraint,
                  stop_check=(lambda row: any(s in self.tokenizer.decode(row, skip_special_tokens=True) for s in stop))
                  if stop else None)
        try:
            result = self.engine.submit(job).result(timeout=max(deadline - time.monotonic(), 0.0) + 1.0)
        except (EngineError, FutureTimeout) as exc:
            raise BackendError(f"embedded generation did not finish within {request.timeout_s:g} s ({exc or 'timed out'})") from exc
        samples = [self._decode(row, stop) for row in result.tokens]
        return samples if sampling else samples * count

    def _decode(self, row: list[int], stop: list[str]) -> _Sample:
        """Text up to EOS or the first stop string (excluded, as in the OpenAI API), and why it ended."""
        end = next((index for index, token in enumerate(row) if token in self._eos_ids), None)
        text = self.tokenizer.decode(row if end is None else row[:end], skip_special_tokens=True)
        cuts = [position for position in (text.find(s) for s in stop) if position >= 0]
        if cuts:
            return _Sample(text[:min(cuts)], "stop", len(row) if end is None else end)
        if end is not None:
            return _Sample(text, "stop", end + 1)
        return _Sample(text, "length", len(row))

    # ------------------------------------------------------------------ helpers

    def _encode(self, request: GenerationRequest) -> list[int]:
        ids = self.tokenizer(request.prompt, add_special_tokens=True)["input_ids"]
        if not ids:  # an empty prompt: start from BOS, as a server would
            ids = [self.tokenizer.bos_token_id if self.tokenizer.bos_token_id is not None else self._eos_ids[0]]
        if len(ids) + request.max_tokens > self._max_positions:
            raise BackendError(f"prompt of {len(ids)} tokens + max_tokens {request.max_tokens} exceeds "
                               f"{self.model_id}'s context of {self._max_positions}")
        return ids

    def _constraint(self, regex: str | None) -> TokenConstraint | None:
        """The compiled token constraint for a regex (cached), or None when the regex is outside the subset."""
        if regex is None:
            return None
        if regex not in self._constraints:
            if self._vocabulary is None:
                self._vocabulary = Vocabulary.from_tokenizer(self.tokenizer, self._eos_ids)
            try:
                self._constraints[regex] = TokenConstraint.compile(regex, self._vocabulary)
            except UnsupportedPattern:
                self._constraints[regex] = None
        return self._constraints[regex]


def _validator(request: GenerationRequest) -> Validator | None:
    """The final check for a request's constraint; raises ValueError for a malformed or unsupported one."""
    check_constraint(request)
    if request.regex is not None:
        try:
            return regex_validator(request.regex)
        except re.error as exc:
            raise ValueError(f"malformed regex {request.regex!r}: {exc}") from exc
    if request.json_schema is not None:
        return json_validator(request.json_schema)
    return None
