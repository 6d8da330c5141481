"""The embedded model's precision, chosen on this machine by measurement, once, and remembered.

CPUs differ: on a 2-core AMD EPYC with AVX512-BF16, SmolLM2's projections for
160 rows ran 5.7x faster in bfloat16 than in float32 (0.21 s vs 1.20 s for the
MLPs of 30 layers); on a CPU with only AVX2, bfloat16 was measured slower than
float32 (issue 11). So nothing is hard-coded: the first load times a short
workload shaped like Shelfcast's (one prompt prefill, then decode steps of many
rows) in each candidate dtype and keeps the fastest, preferring float32 unless
another is at least 10% faster (float32 is the exact one). The result is cached
under $SHELFCAST_HOME/cache, keyed by the CPU's model and flags, torch's
version, the thread count and the model, so a new machine measures again;
`shelfcast models list` shows the choice and why. $SHELFCAST_LLM_DTYPE
overrides it (float32 or bfloat16).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

from pydantic import BaseModel, Field

from agent.config import get_settings

CANDIDATES = ("float32", "bfloat16")
# Another dtype must be this much faster than float32 to be chosen over it.
MIN_GAIN = 1.10
# CPU flags that decide whether bfloat16 can be fast; recorded with the choice.
FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")
CACHE_NAME = "llm-precision.json"


class PrecisionChoice(BaseModel):
    dtype: str
    reason: str
    seconds: dict[str, float] = Field(description="Workload time per candidate dtype (lower is better).")
    cpu: str
    measured_at: datetime


def cpu_description() -> tuple[str, list[str]]:
    """The CPU's model name and which of the flags that matter here it has (Linux /proc/cpuinfo)."""
    name, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                name = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
                break
    except OSError:
        pass
    return name, [flag for flag in FLAGS if flag in flags]


def _key(model_dir: Path, threads: int) -> str:
    name, flags = cpu_description()
    text = json.dumps([name, flags, version("torch"), threads, model_dir.name, os.cpu_count()])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _cache_path() -> Path:
    return get_settings().cache_dir / CACHE_NAME


def cached_choice(model_dir: Path, threads: int | None = None) -> PrecisionChoice | None:
    """The remembered choice for this machine and model, or None (no torch import: cheap for `models list`)."""
    threads = threads or get_settings().torch_threads
    try:
        entries = json.loads(_cache_path().read_text())
        return PrecisionChoice.model_validate(entries[_key(model_dir, threads)])
    except (OSError, ValueError, KeyError):
        return None


def choose_precision(model_dir: Path, threads: int | None = None) -> PrecisionChoice:
    """The dtype to load `model_dir` in: the override, the remembered choice, or a fresh measurement."""
    override = os.environ.get("SHELFCAST_LLM_DTYPE")
    name, flags = cpu_description()
    cpu = f"{name} ({', '.join(flags) or 'none of ' + '/'.join(FLAGS)})"
    if override:
        if override not in CANDIDATES:
            raise ValueError(f"SHELFCAST_LLM_DTYPE must be one of {', '.join(CANDIDATES)}, not {override!r}")
        return PrecisionChoice(dtype=override, reason="set by $SHELFCAST_LLM_DTYPE", seconds={}, cpu=cpu,
                               measured_at=datetime.now(UTC))
    threads = threads or get_settings().torch_threads
    remembered = cached_choice(model_dir, threads)
    if remembered is not None:
        return remembered
    seconds = {dtype: measure(model_dir, dtype) for dtype in CANDIDATES}
    fastest = min(seconds, key=seconds.__getitem__)
    dtype = fastest if seconds["float32"] >= MIN_GAIN * seconds[fastest] else "float32"
    timings = ", ".join(f"{d} {s:.2f} s" for d, s in seconds.items())
    reason = (f"measured on this machine ({timings} for one prefill and decode steps of 32 rows); "
              + ("the fastest" if dtype == fastest else f"float32 kept: {fastest} was not {MIN_GAIN - 1:.0%} faster"))
    choice = PrecisionChoice(dtype=dtype, reason=reason, seconds=seconds, cpu=cpu, measured_at=datetime.now(UTC))
    _remember(_key(model_dir, threads), choice)
    return choice


def measure(model_dir: Path, dtype: str, repeats: int = 2) -> float:
    """Best-of-`repeats` seconds for a 64-token prefill plus two 32-row single-token forwards (~1 s idle)."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=getattr(torch, dtype), local_files_only=True).eval()
    generator = torch.Generator().manual_seed(0)
    vocab = model.config.vocab_size
    prompt = torch.randint(3, vocab, (1, 64), generator=generator)
    rows = torch.randint(3, vocab, (32, 1), generator=generator)
    best = float("inf")
    with torch.inference_mode():
        model(input_ids=prompt[:, :8])  # first-call set-up (kernels, allocator) is not the steady state
        for _ in range(repeats):
            started = time.perf_counter()
            model(input_ids=prompt, logits_to_keep=1)
            for _ in range(2):
                model(input_ids=rows)
            best = min(best, time.perf_counter() - started)
    return best


def _remember(key: str, choice: PrecisionChoice) -> None:
    path = _cache_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        entries = json.loads(path.read_text())
    except (OSError, ValueError):
        entries = {}
    entries[key] = json.loads(choice.model_dump_json())
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(json.dumps(entries, indent=1))
    partial.replace(path)  # atomic: a concurrent reader sees the old file or the new one
