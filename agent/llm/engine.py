"""Continuous batching for the embedded backend: many requests share every decode step, and a prompt's cache is never copied.

Why not `model.generate`: measured on SmolLM2-135M (2-core AMD EPYC, AVX512-BF16,
one request of 20 samples, 600-token few-shot prompt), transformers' dynamic
cache grows by `torch.cat` every step, so each step copies every row's copy of
the prompt's keys and values (20 rows x 600 tokens x 46 KB = 570 MB a step),
and concurrent callers waited on a lock and ran one by one. Here:

- A prompt is prefilled once; its keys and values are copied once into the
  request's slot of a stacked layout (`_Slots`) and read by all of its rows
  (shared-prefix attention: the rows' queries are stacked against the one
  prefix, as in cascade attention), never copied per row or per step.
- What the rows generate is written in place into preallocated buffers of the
  same layout, one position a step.
- Every active request's rows go through each layer's projections and MLP as
  one batch (the weights are read once a step for all callers, which is what
  makes batching pay on a CPU), and each layer's attention is one batched call
  over all slots.
- Requests join between steps and leave when all their rows are done, the
  way vLLM's scheduler batches them; a request past its deadline is dropped
  with an error for its caller.

The model is driven through its own modules (norms, projections, rotary
embedding), so it runs whatever dtype or quantisation the modules carry. It
supports the Llama family (SmolLM2, and the tiny test model); the backend
checks this on load. Sampling follows transformers' order: the token
constraint's mask, then temperature, then top-p, drawn from a per-request
generator so a seed reproduces a request's samples whatever else is batched
with it (up to float rounding in differently shaped matmuls).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

import torch
from torch import nn

from agent.llm.constrain import TokenConstraint

# Rows decoded together at most: beyond this a step's matmuls stop getting cheaper per row and
# waiting requests are better served by the next admission.
MAX_BATCH_ROWS = 256


class EngineError(RuntimeError):
    """The engine could not serve a job (deadline passed, the model failed, the engine stopped)."""


@dataclass
class Job:
    """`rows` samples of one prompt: what to draw and how, and where the answer goes."""

    prompt_ids: list[int]
    rows: int
    max_tokens: int
    temperature: float
    top_p: float
    eos_ids: tuple[int, ...]
    deadline: float
    seed: int | None = None
    constraint: TokenConstraint | None = None
    stop_check: Callable[[list[int]], bool] | None = None  # the row's tokens contain a stop string
    future: Future = field(default_factory=Future)


@dataclass
class JobResult:
    tokens: list[list[int]]  # per row: generated ids, EOS included when it was drawn
    prompt_tokens: int


class _Active:
    """A job being decoded: where its cache lives (a slot of `_Slots`) and its rows' sampling state."""

    def __init__(self, job: Job, prompt_len: int, logits: torch.Tensor) -> None:
        self.job = job
        self.prompt_len = prompt_len
        self.slot = -1  # set by _Slots.place
        self.step = 0  # tokens generated (and cached) per row so far
        self.tokens: list[list[int]] = [[] for _ in range(job.rows)]
        self.done = [False] * job.rows
        self.states = [job.constraint.automaton.start] * job.rows if job.constraint else None
        self.generator = torch.Generator()
        self.generator.manual_seed(job.seed if job.seed is not None else int(torch.randint(0, 2**62, ()).item()))
        self.sample(logits.expand(job.rows, -1))

    @property
    def finished(self) -> bool:
        return all(self.done)

    def last_tokens(self) -> list[int]:
        eos = self.job.eos_ids[0]
        return [row[-1] if row else eos for row in self.tokens]

    def candidates(self) -> torch.Tensor | None:
        """The only token ids any live row may draw next (None: the whole vocabulary may be needed).

        Under a token constraint the next token of every row is one of its
        state's continuations or EOS, so the step's output layer and sampling
        need only those columns (a dozen for a number pattern, of 49,152). A row
        whose state may end while it could still continue needs the full row:
        EOS takes the mass of every token that leaves the pattern.
        """
        constraint = self.job.constraint
        if constraint is None:
            return None
        ids = set(self.job.eos_ids[:1])
        for state, done in zip(self.states, self.done, strict=True):
            if done:
                continue
            continuations = constraint.continuations(state)
            if constraint.may_end(state) and len(continuations):
                return None
            ids.update(continuations.tolist())
        return torch.tensor(sorted(ids), dtype=torch.long)

    def sample(self, logits: torch.Tensor, columns: torch.Tensor | None = None) -> None:
        """Draw the next token of every live row; `logits` are rows x vocabulary, or rows x `columns`."""
        job = self.job
        logits = logits.float()
        live = columns
        if self.states is not None:
            if columns is None:
                logits = job.constraint.mask(self.states, logits)
                # Only tokens some row may still draw take part in the draw (exact: the rest have p=0).
                live = torch.isfinite(logits).any(dim=0).nonzero().squeeze(1)
                logits = logits[:, live]
            else:
                logits = logits.masked_fill(~job.constraint.allowed(self.states, columns), -math.inf)
        if job.temperature > 0:
            probs = torch.softmax(logits / job.temperature, dim=-1)
            if job.top_p < 1.0:
                probs = _top_p(probs, job.top_p)
            drawn = torch.multinomial(probs, 1, generator=self.generator).squeeze(1)
        else:
            drawn = logits.argmax(dim=-1)
        drawn = (drawn if live is None else live[drawn]).tolist()
        for row, token in enumerate(drawn):
            if self.done[row]:
                continue
            self.tokens[row].append(token)
            if self.states is not None:
                self.states[row] = job.constraint.advance(self.states[row], token)
            if (token in job.eos_ids or len(self.tokens[row]) >= job.max_tokens
                    or (job.stop_check is not None and job.stop_check(self.tokens[row]))):
                self.done[row] = True


class _Slots:
    """Every active job's keys and values in one stacked layout, so a layer's attention is one batched call.

    Shapes per layer: the prompts' keys/values (slots, kv_heads, prompt, d),
    shared by a job's rows, and the rows' own generated keys/values (slots,
    rows, kv_heads, new tokens, d). A job takes a free slot when it starts and
    its prompt's cache is copied in once; what its rows generate is written in
    place, one position a step. Padding (shorter prompts, fewer rows, free
    slots) is masked. Capacity grows (one copy) when a job needs more slots,
    rows, prompt or new tokens than allocated, and is dropped when the engine
    goes idle, so one long prompt does not pad every later step. Per-job
    attention instead cost ~22 small ops per job per layer: at 8 jobs it took
    as long as the step's projections.
    """

    def __init__(self, layers: int, kv_heads: int, head_dim: int, dtype: torch.dtype) -> None:
        self.layers, self.kv_heads, self.head_dim, self.dtype = layers, kv_heads, head_dim, dtype
        self.reset()

    def reset(self) -> None:
        self.owners: list[_Active | None] = []
        self.rows = self.prompt = self.tokens = 0
        self.prefix_keys: list[torch.Tensor] = []
        self.prefix_values: list[torch.Tensor] = []
        self.own_keys: list[torch.Tensor] = []
        self.own_values: list[torch.Tensor] = []
        self.prefix_bias = torch.zeros(0, 0)

    def place(self, active: _Active, prefix: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Give `active` a slot and copy its prompt's cache (per layer (kv_heads, prompt, d)) into it."""
        free = [index for index, owner in enumerate(self.owners) if owner is None]
        job = active.job
        slots = len(self.owners) + (0 if free else max(1, len(self.owners)))
        if (not free or job.rows > self.rows or active.prompt_len > self.prompt or job.max_tokens > self.tokens):
            self._grow(slots, max(self.rows, job.rows), max(self.prompt, active.prompt_len),
                       max(self.tokens, job.max_tokens))
            free = [index for index, owner in enumerate(self.owners) if owner is None]
        slot = free[0]
        self.owners[slot] = active
        active.slot = slot
        for layer, (keys, values) in enumerate(prefix):
            self.prefix_keys[layer][slot, :, : active.prompt_len] = keys
            self.prefix_values[layer][slot, :, : active.prompt_len] = values
        self.prefix_bias[slot] = -math.inf
        self.prefix_bias[slot, : active.prompt_len] = 0.0

    def release(self, active: _Active) -> None:
        self.owners[active.slot] = None
        if all(owner is None for owner in self.owners):
            self.reset()

    def _grow(self, slots: int, rows: int, prompt: int, tokens: int) -> None:
        old = (len(self.owners), self.rows, self.prompt, self.tokens)
        kv, d = self.kv_heads, self.head_dim

        def grown(tensors: list[torch.Tensor], shape: tuple[int, ...], used: tuple[slice, ...]) -> list[torch.Tensor]:
            result = []
            for layer in range(self.layers):
                tensor = torch.zeros(shape, dtype=self.dtype)
                if tensors:
                    tensor[used] = tensors[layer][used]
                result.append(tensor)
            return result

        prefix_used = (slice(0, old[0]), slice(None), slice(0, old[2]))
        own_used = (slice(0, old[0]), slice(0, old[1]), slice(None), slice(0, old[3]))
        self.prefix_keys = grown(self.prefix_keys, (slots, kv, prompt, d), prefix_used)
        self.prefix_values = grown(self.prefix_values, (slots, kv, prompt, d), prefix_used)
        self.own_keys = grown(self.own_keys, (slots, rows, kv, tokens, d), own_used)
        self.own_values = grown(self.own_values, (slots, rows, kv, tokens, d), own_used)
        bias = torch.zeros(slots, prompt)
        bias[: old[0], : old[2]] = self.prefix_bias
        bias[: old[0], old[2]:] = -math.inf
        self.prefix_bias = bias
        self.owners += [None] * (slots - old[0])
        self.rows, self.prompt, self.tokens = rows, prompt, tokens


def _top_p(probs: torch.Tensor, top_p: float) -> torch.Tensor:
    """Nucleus filtering as transformers does it: drop the tail whose mass is below 1 - top_p, keep at least one."""
    ordered, order = probs.sort(dim=-1)
    tail = ordered.cumsum(dim=-1) <= 1 - top_p
    tail[:, -1] = False
    return probs.scatter(-1, order, ordered.masked_fill(tail, 0.0))


class DecodeEngine:
    """One thread that owns the model and decodes every submitted job, batched, until each is done."""

    def __init__(self, model: nn.Module, max_batch_rows: int = MAX_BATCH_ROWS) -> None:
        self.model = model
        self.max_batch_rows = max_batch_rows
        config = model.config
        self.head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        self.heads = config.num_attention_heads
        self.kv_heads = config.num_key_value_heads
        self.group = self.heads // self.kv_heads
        self.dtype = next(model.parameters()).dtype
        self.slots = _Slots(len(model.model.layers), self.kv_heads, self.head_dim, self.dtype)
        self._waiting: list[Job] = []
        self._active: list[_Active] = []
        self._wake = threading.Condition()
        self._stopped = False
        self.steps = 0  # decode steps run, for benchmarks and tests
        self.max_rows_seen = 0
        self._thread = threading.Thread(target=self._loop, name="shelfcast-decode", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ the callers' side

    def submit(self, job: Job) -> Future:
        if job.rows > self.max_batch_rows:
            raise ValueError(f"a job may ask for at most {self.max_batch_rows} rows, not {job.rows}")
        with self._wake:
            if self._stopped:
                raise EngineError("the decode engine has stopped")
            self._waiting.append(job)
            self._wake.notify()
        return job.future

    def close(self) -> None:
        with self._wake:
            self._stopped = True
            self._wake.notify()
        self._thread.join(timeout=30)

    # ------------------------------------------------------------------ the engine thread

    def _loop(self) -> None:
        torch.set_grad_enabled(False)
        while True:
            with self._wake:
                while not self._waiting and not self._active and not self._stopped:
                    self._wake.wait()
                if self._stopped:
                    pending, self._waiting = self._waiting, []
                    break
                admitted = self._admit()
            for job in admitted:
                self._prefill(job)
            self._expire()
            if self._active:
                try:
                    self._decode_step()
                except Exception as exc:  # noqa: BLE001 — any failure is every active caller's answer
                    for active in list(self._active):
                        _fail(active.job, EngineError(f"decoding failed: {exc}"))
                        self._drop(active)
            self._retire()
        for job in pending + [a.job for a in self._active]:
            _fail(job, EngineError("the decode engine has stopped"))

    def _admit(self) -> list[Job]:
        """Waiting jobs that fit next to the active rows (called under the lock); a job is never starved."""
        rows = sum(a.job.rows for a in self._active)
        admitted = []
        while self._waiting and (not admitted and not self._active or rows + self._waiting[0].rows <= self.max_batch_rows):
            job = self._waiting.pop(0)
            rows += job.rows
            admitted.append(job)
        return admitted

    def _prefill(self, job: Job) -> None:
        if time.monotonic() >= job.deadline:
            _fail(job, EngineError("deadline passed while waiting in the queue"))
            return
        try:
            with torch.inference_mode():
                ids = torch.tensor([job.prompt_ids], dtype=torch.long)
                output = self.model(input_ids=ids, use_cache=True, logits_to_keep=1)
                cache = output["cache"]
                prefix = [(layer.keys[0], layer.values[0]) for layer in cache.layers]
                active = _Active(job, len(job.prompt_ids), output.logits[0, -1:])
                self.slots.place(active, prefix)
                self._active.append(active)
        except Exception as exc:  # noqa: BLE001
            _fail(job, EngineError(f"prefill failed: {exc}"))

    def _expire(self) -> None:
        now = time.monotonic()
        for active in [a for a in self._active if now >= a.job.deadline]:
            _fail(active.job, EngineError("deadline passed during decoding"))
            self._drop(active)

    def _retire(self) -> None:
        for active in [a for a in self._active if a.finished]:
            self._drop(active)
            if not active.job.future.done():
                active.job.future.set_result(JobResult(active.tokens, active.prompt_len))

    def _drop(self, active: _Active) -> None:
        self._active.remove(active)
        if active.slot >= 0:
            self.slots.release(active)

    @torch.inference_mode()
    def _decode_step(self) -> None:
        """One token for every row of every active job: batched projections, per-job attention."""
        actives = [a for a in self._active if not a.finished]
        if not actives:
            return
        inner = self.model.model
        tokens = torch.tensor([t for a in actives for t in a.last_tokens()], dtype=torch.long)
        positions = torch.tensor([a.prompt_len + a.step for a in actives for _ in range(a.job.rows)],
                                 dtype=torch.long)
        hidden = inner.embed_tokens(tokens)  # (rows, hidden)
        cos, sin = inner.rotary_emb(hidden, positions.unsqueeze(0))
        cos, sin = cos[0].unsqueeze(1), sin[0].unsqueeze(1)  # (rows, 1, head_dim)
        spans = _spans([a.job.rows for a in actives])
        self.max_rows_seen = max(self.max_rows_seen, len(tokens))
        slots = self.slots
        # Where each row's query and new key/value go in the stacked layout, and which own positions it sees.
        flat_rows = torch.tensor([a.slot * slots.rows + i for a in actives for i in range(a.job.rows)])
        row_steps = torch.tensor([a.step for a in actives for _ in range(a.job.rows)])
        slot_steps = torch.full((len(slots.owners), 1), -1)
        for active in actives:
            slot_steps[active.slot] = active.step
        own_bias = torch.zeros(len(slots.owners), slots.tokens).masked_fill(
            torch.arange(slots.tokens) > slot_steps, -math.inf)
        for index, layer in enumerate(inner.layers):
            attention = layer.self_attn
            normed = layer.input_layernorm(hidden)
            rows = normed.shape[0]
            queries = _rotate(attention.q_proj(normed).view(rows, self.heads, self.head_dim), cos, sin)
            keys = _rotate(attention.k_proj(normed).view(rows, self.kv_heads, self.head_dim), cos, sin)
            values = attention.v_proj(normed).view(rows, self.kv_heads, self.head_dim)
            out = self._attend(index, queries, keys, values, flat_rows, row_steps, own_bias, attention.scaling)
            hidden = hidden + attention.o_proj(out)
            hidden = hidden + layer.mlp(layer.post_attention_layernorm(hidden))
        final = inner.norm(hidden)
        for active, (a, b) in zip(actives, spans, strict=True):
            active.step += 1
            columns = active.candidates()
            if columns is None:
                active.sample(self.model.lm_head(final[a:b]))
            else:  # the output layer for the few tokens the constraint allows (it is 20% of a step's weights)
                active.sample(final[a:b] @ self.model.lm_head.weight[columns].T, columns)
        self.steps += 1

    def _attend(self, layer: int, queries: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
                flat_rows: torch.Tensor, row_steps: torch.Tensor, own_bias: torch.Tensor, scaling: float) -> torch.Tensor:
        """Every row's attention over its job's prompt and its own generated tokens, in one batched call.

        queries (rows, heads, d); the new keys/values (rows, kv_heads, d) are
        written into the rows' own buffers first, so a row attends to itself.
        Returns (rows, heads * d).
        """
        slots = self.slots
        count, width, prompt = len(slots.owners), slots.rows, slots.prompt
        kv, group, d = self.kv_heads, self.group, self.head_dim
        slots.own_keys[layer].view(count * width, kv, slots.tokens, d)[flat_rows, :, row_steps] = keys
        slots.own_values[layer].view(count * width, kv, slots.tokens, d)[flat_rows, :, row_steps] = values
        padded = queries.new_zeros(count * width, kv, group, d)
        padded[flat_rows] = queries.view(-1, kv, group, d) * scaling  # scaled once here, not over every score
        padded = padded.view(count, width, kv, group, d)
        stacked = padded.permute(0, 2, 1, 3, 4).reshape(count, kv, width * group, d)
        prefix_scores = (stacked @ slots.prefix_keys[layer].transpose(-1, -2)).view(count, kv, width, group, prompt)
        # The float32 masks promote the scores to float32: the softmax runs in full precision whatever the model's.
        prefix_scores = prefix_scores.permute(0, 2, 1, 3, 4) + slots.prefix_bias.view(count, 1, 1, 1, prompt)
        own_scores = padded @ slots.own_keys[layer].transpose(-1, -2) + own_bias.view(count, 1, 1, 1, -1)
        weights = torch.softmax(torch.cat([prefix_scores, own_scores], dim=-1), dim=-1).to(queries.dtype)
        prefix_weights = weights[..., :prompt].permute(0, 2, 1, 3, 4).reshape(count, kv, width * group, prompt)
        out = (prefix_weights @ slots.prefix_values[layer]).view(count, kv, width, group, d).permute(0, 2, 1, 3, 4)
        out = out + weights[..., prompt:] @ slots.own_values[layer]
        return out.reshape(count * width, kv * group * d)[flat_rows]


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary position embedding, Llama's rotate-half convention (x: rows, heads, d)."""
    half = x.shape[-1] // 2
    rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return x * cos + rotated * sin


def _spans(sizes: Sequence[int]) -> list[tuple[int, int]]:
    spans, start = [], 0
    for size in sizes:
        spans.append((start, start + size))
        start += size
    return spans


def _fail(job: Job, error: Exception) -> None:
    if not job.future.done():
        job.future.set_exception(error)


def supports(model: nn.Module) -> str | None:
    """Why the engine cannot drive this model (None: it can): it needs the Llama family's module layout."""
    inner = getattr(model, "model", None)
    needed = ("embed_tokens", "layers", "norm", "rotary_emb")
    if inner is None or any(not hasattr(inner, name) for name in needed) or not hasattr(model, "lm_head"):
        return f"{type(model).__name__} is not a Llama-family causal LM"
    layer = inner.layers[0]
    if not all(hasattr(layer.self_attn, name) for name in ("q_proj", "k_proj", "v_proj", "o_proj", "scaling")):
        return f"{type(model).__name__}'s attention is not Llama's"
    if math.isfinite(getattr(model.config, "sliding_window", None) or math.inf):
        return "sliding-window attention is not supported"
    return None
