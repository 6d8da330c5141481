"""In-process LLM backend: a prepared transformers folder loaded once, used when no vLLM server runs.

It answers the same requests as the HTTP backend: n samples drawn in one batched
`generate` call on a prompt prefilled once, regex constraints enforced token by
token (agent.llm.constrain), JSON schemas by validate-and-resample. One model serves many callers, so
generation is serialized by a lock; a caller that waits past its request's
timeout gets a BackendError, like a server that did not answer.
"""

from __future__ import annotations

import contextlib
import copy
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, Cache, GenerationConfig, LogitsProcessorList

from agent.config import get_settings
from agent.llm.base import BackendError, Generation, GenerationRequest
from agent.llm.constrain import (INVALID, RegexLogitsProcessor, TokenConstraint, UnsupportedPattern, Validator,
                                 Vocabulary, json_validator, regex_validator)

# SmolLM2-135M, one thread of a shared 2-core AVX2 CPU (no AVX512-BF16/AMX), runs interleaved: float32 decodes
# n=10 constrained samples at 20 tok/s, bfloat16 at 10 tok/s (one sample: 5.3 vs 4.2). The folder stays bf16 on disk.
DEFAULT_DTYPE = torch.float32
# Resampling rounds for constraints enforced only by checking (JSON schemas, regexes outside the automaton subset).
MAX_RESAMPLES = 3


@dataclass
class _Sample:
    text: str
    finish: str
    tokens: int


@dataclass(frozen=True)
class _Prompt:
    """The prompt's ids and the KV cache of all its tokens but the last, computed once per request.

    transformers' `num_return_sequences` copies the prompt n times before the
    forward pass, so it is prefilled n times (3.5 of 9.3 s for n=10 on the
    sales prompt). Prefilling once and copying the cache gives the same samples
    for the cost of one prefill; the longer the few-shot prompt, the larger the saving.
    """

    ids: torch.Tensor
    cache: Cache | None

    def batch(self, rows: int) -> tuple[torch.Tensor, Cache | None]:
        cache = None
        if self.cache is not None:
            cache = copy.deepcopy(self.cache)  # generate() appends to it in place
            cache.batch_repeat_interleave(rows)
        return self.ids.repeat(rows, 1), cache


@dataclass(frozen=True)
class _Plan:
    """How one request is constrained: a token mask, a final check, or both (a regex gets both)."""

    constraint: TokenConstraint | None
    validator: Validator | None


class EmbeddedBackend:
    """`LLMBackend` over a local model folder (the prepared SmolLM2, or a tiny test model)."""

    name = "embedded"

    def __init__(self, model_dir: Path | str, threads: int | None = None, device: str = "cpu",
                 dtype: torch.dtype = DEFAULT_DTYPE, max_resamples: int = MAX_RESAMPLES,
                 adapter_dir: Path | str | None = None) -> None:
        """Load the folder now, so that a broken model fails at start-up rather than on a user's request.

        `threads` sets torch's intra-op threads for the whole process (torch has no
        per-model setting); by default one, because two threads next to another busy
        process were measured to stall decoding. `adapter_dir` is a peft LoRA adapter
        (finetune.llm) merged into the weights on load, so decoding costs what the base
        model costs; the model id then names both, so every answer says which weights gave it.
        """
        torch.set_num_threads(threads or get_settings().torch_threads)
        self.model_dir = Path(model_dir)
        self.adapter_dir = Path(adapter_dir) if adapter_dir is not None else None
        self.model_id = self.model_dir.name + (f"+lora:{self.adapter_dir.name}" if self.adapter_dir else "")
        self.device = torch.device(device)
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
        self.model = model.to(self.device).eval()
        eos = self.model.generation_config.eos_token_id
        eos = self.tokenizer.eos_token_id if eos is None else eos
        self._eos_ids: tuple[int, ...] = tuple(eos) if isinstance(eos, list) else (eos,)
        pad = self.model.generation_config.pad_token_id
        self._pad_id: int = self._eos_ids[0] if pad is None else pad
        self._max_positions: int = getattr(self.model.config, "max_position_embeddings", 2048)
        self._lock = threading.Lock()
        self._vocabulary: Vocabulary | None = None
        self._constraints: dict[str, TokenConstraint | None] = {}

    def healthy(self) -> bool:
        """Loaded means healthy: there is no server that could have gone away."""
        return self.model is not None

    def __repr__(self) -> str:
        adapter = f", adapter_dir={str(self.adapter_dir)!r}" if self.adapter_dir else ""
        return f"EmbeddedBackend({str(self.model_dir)!r}{adapter}, device={self.device.type!r})"

    # ------------------------------------------------------------------ generation

    def generate(self, request: GenerationRequest) -> Generation:
        started = time.monotonic()
        deadline = started + request.timeout_s
        validator = _validator(request)
        if not self._lock.acquire(timeout=request.timeout_s):
            raise BackendError(f"embedded model busy for more than {request.timeout_s:g} s")
        try:
            plan = _Plan(self._constraint(request.regex), validator)
            with torch.inference_mode(), self._seeded(request.seed):
                prompt = self._prefill(self._encode(request))
                samples, generated = self._sample_valid(prompt, request, plan, deadline)
        except BackendError:
            raise
        except RuntimeError as exc:  # torch failures (out of memory, bad kernels): no answer, as from a dead server
            raise BackendError(f"embedded generation failed: {exc}") from exc
        finally:
            self._lock.release()
        return Generation(texts=[s.text for s in samples], finish_reasons=[s.finish for s in samples],
                          backend=self.name, model=self.model_id, prompt_tokens=prompt.ids.shape[1],
                          completion_tokens=generated, latency_s=time.monotonic() - started)

    def _sample_valid(self, prompt: _Prompt, request: GenerationRequest, plan: _Plan,
                      deadline: float) -> tuple[list[_Sample], int]:
        """Sample n; when only a check enforces the constraint, resample the failures a few times.

        Returns the samples and the number of tokens generated, discarded
        resamples included (that is what the request cost). A sample that ends
        normally but fails the check is marked INVALID; one cut by max_tokens
        stays "length", because the fix (more tokens) differs.
        """
        samples = self._sample(prompt, request, request.n, plan.constraint, deadline)
        generated = sum(s.tokens for s in samples)
        check = plan.validator
        if check is not None and plan.constraint is None and request.temperature > 0:
            for _ in range(self.max_resamples):
                failed = [index for index, sample in enumerate(samples) if not check(sample.text)]
                if not failed or time.monotonic() >= deadline:
                    break
                fresh = self._sample(prompt, request, len(failed), None, deadline)
                generated += sum(s.tokens for s in fresh)
                for index, sample in zip(failed, fresh, strict=True):
                    samples[index] = sample
        if check is not None:
            for sample in samples:
                if sample.finish == "stop" and not check(sample.text):
                    sample.finish = INVALID
        return samples, generated

    def _sample(self, prompt: _Prompt, request: GenerationRequest, count: int,
                constraint: TokenConstraint | None, deadline: float) -> list[_Sample]:
        """One batched `generate` call for `count` samples (greedy decodes once and repeats it)."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise BackendError(f"embedded generation did not finish within {request.timeout_s:g} s")
        sampling = request.temperature > 0
        ids, cache = prompt.batch(count if sampling else 1)
        config = GenerationConfig(
            max_new_tokens=request.max_tokens, do_sample=sampling,
            eos_token_id=list(self._eos_ids), pad_token_id=self._pad_id, max_time=remaining,
            stop_strings=request.stop or None,
            # top_k=0 switches off transformers' default top-k of 50, as in vLLM and the OpenAI API.
            **({"temperature": request.temperature, "top_p": request.top_p, "top_k": 0} if sampling else {}))
        processors = LogitsProcessorList([RegexLogitsProcessor(constraint)] if constraint else [])
        output = self.model.generate(ids, attention_mask=torch.ones_like(ids), cache=cache, generation_config=config,
                                     logits_processor=processors, tokenizer=self.tokenizer if request.stop else None)
        rows = output[:, ids.shape[1]:].tolist()
        samples = [self._decode(row, request.stop) for row in rows]
        cut_short = any(s.finish == "length" for s in samples) and len(rows[0]) < request.max_tokens
        if cut_short and time.monotonic() >= deadline:  # transformers' max_time stopped it, not max_tokens
            raise BackendError(f"embedded generation did not finish within {request.timeout_s:g} s")
        return samples if sampling else [_Sample(s.text, s.finish, s.tokens) for s in samples * count]

    def _decode(self, row: list[int], stop: list[str]) -> _Sample:
        """Text up to EOS or the first stop string (excluded, as in the OpenAI API), and why it ended."""
        end = next((index for index, token in enumerate(row) if token in self._eos_ids), None)
        text = self.tokenizer.decode(row if end is None else row[:end], skip_special_tokens=True)
        cuts = [position for position in (text.find(s) for s in stop) if position >= 0]
        if cuts:
            # The row was padded after the stop string, and padding may share EOS's id: it was not generated.
            return _Sample(text[:min(cuts)], "stop", len(row) if end is None else end)
        if end is not None:
            return _Sample(text, "stop", end + 1)
        return _Sample(text, "length", len(row))

    # ------------------------------------------------------------------ helpers

    def _encode(self, request: GenerationRequest) -> torch.Tensor:
        ids = self.tokenizer(request.prompt, add_special_tokens=True)["input_ids"]
        if not ids:  # an empty prompt: start from BOS, as a server would
            ids = [self.tokenizer.bos_token_id if self.tokenizer.bos_token_id is not None else self._eos_ids[0]]
        if len(ids) + request.max_tokens > self._max_positions:
            raise BackendError(f"prompt of {len(ids)} tokens + max_tokens {request.max_tokens} exceeds "
                               f"{self.model_id}'s context of {self._max_positions}")
        return torch.tensor([ids], dtype=torch.long, device=self.device)

    def _prefill(self, ids: torch.Tensor) -> _Prompt:
        if ids.shape[1] < 2:  # generate() needs at least one uncached token
            return _Prompt(ids, None)
        return _Prompt(ids, self.model(ids[:, :-1], use_cache=True)["cache"])

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

    @contextlib.contextmanager
    def _seeded(self, seed: int | None) -> Iterator[None]:
        """Seed torch for this call only, restoring the global generator afterwards for other users."""
        if seed is None:
            yield
            return
        devices = [] if self.device.type == "cpu" else [self.device]
        with torch.random.fork_rng(devices=devices, device_type=self.device.type):
            torch.manual_seed(seed)
            yield


def _validator(request: GenerationRequest) -> Validator | None:
    """The final check for a request's constraint; raises ValueError for a malformed or unsupported one."""
    if request.regex is not None and request.json_schema is not None:
        raise ValueError("a request may set regex or json_schema, not both")
    if request.regex is not None:
        try:
            return regex_validator(request.regex)
        except re.error as exc:
            raise ValueError(f"malformed regex {request.regex!r}: {exc}") from exc
    if request.json_schema is not None:
        return json_validator(request.json_schema)
    return None
