"""Per-step cost of the token constraint: agent.llm.constrain against llguidance (vLLM's guidance backend).

The embedded engine masks 20 rows a step to the forecast pattern
`(?:\\d{1,3}, ){h}` over SmolLM2's 49,152-token vocabulary. Measured per
decode step for 20 rows, replaying the same token sequences through both:

- constrain: what the engine does: the step's candidate columns, the rows x
  candidates allowed-matrix, and advancing each row's automaton state (masks
  are cached per automaton state, so after the first steps this is lookups);
- llguidance: one LLMatcher per row (the grammar from the same regex),
  `fill_next_token_bitmask` into a batch bitmask, `apply_token_bitmask_inplace`
  on the rows x vocabulary logits, and `consume_token`, as vLLM does.

Compile time (pattern to first mask) is printed too. llguidance is not a
dependency of Shelfcast: install it for this script with
`pip install -e '.[bench]'`.

    python eval/bench_constrain.py [--rows 20] [--horizon 4] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import random
import time

import torch

from agent.config import ensure_offline
from agent.forecast.serialize import continuation_regex
from agent.llm.constrain import TokenConstraint, Vocabulary
from agent.models.smollm2 import prepare_smollm2


def token_sequences(constraint: TokenConstraint, rows: int, seed: int) -> list[list[int]]:
    """Random valid continuations (each row a different number of digits per value), ending with EOS."""
    rng = random.Random(seed)
    eos = constraint.vocabulary.eos_ids[0]
    sequences = []
    for _ in range(rows):
        state, tokens = constraint.automaton.start, []
        while True:
            options = constraint.continuations(state).tolist()
            if not options:
                tokens.append(eos)
                break
            token = rng.choice(options)
            tokens.append(token)
            state = constraint.advance(state, token)
        sequences.append(tokens)
    return sequences


def ours(constraint: TokenConstraint, sequences: list[list[int]]) -> tuple[float, int]:
    states = [constraint.automaton.start] * len(sequences)
    steps = max(map(len, sequences))
    started = time.perf_counter()
    for step in range(steps):
        ids = set(constraint.vocabulary.eos_ids[:1])
        for state in states:
            ids.update(constraint.continuations(state).tolist())
        columns = torch.tensor(sorted(ids))
        constraint.allowed(states, columns)
        states = [constraint.advance(state, row[min(step, len(row) - 1)]) for state, row in zip(states, sequences)]
    return time.perf_counter() - started, steps


def theirs(tokenizer, pattern: str, sequences: list[list[int]], vocab_size: int) -> tuple[float, float, int]:
    import llguidance
    import llguidance.hf
    import llguidance.torch

    started = time.perf_counter()
    lltokenizer = llguidance.hf.from_tokenizer(tokenizer)
    grammar = llguidance.LLMatcher.grammar_from_regex(pattern)
    matchers = [llguidance.LLMatcher(lltokenizer, grammar) for _ in sequences]
    bitmask = llguidance.torch.allocate_token_bitmask(len(sequences), lltokenizer.vocab_size)
    compile_s = time.perf_counter() - started
    logits = torch.zeros(len(sequences), vocab_size)
    steps = max(map(len, sequences))
    started = time.perf_counter()
    for step in range(steps):
        for row, matcher in enumerate(matchers):
            llguidance.torch.fill_next_token_bitmask(matcher, bitmask, row)
        llguidance.torch.apply_token_bitmask_inplace(logits, bitmask)
        for matcher, row in zip(matchers, sequences):
            if step < len(row) and not matcher.is_stopped():
                matcher.consume_token(row[step])
    return time.perf_counter() - started, compile_s, steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20)
    parser.add_argument("--horizon", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    ensure_offline()
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(prepare_smollm2(), local_files_only=True)
    pattern = continuation_regex(args.horizon)
    started = time.perf_counter()
    vocabulary = Vocabulary.from_tokenizer(tokenizer, (tokenizer.eos_token_id,))
    decoded_s = time.perf_counter() - started
    started = time.perf_counter()
    constraint = TokenConstraint.compile(pattern, vocabulary)
    constraint.continuations(constraint.automaton.start)
    compile_s = time.perf_counter() - started
    print(f"# bench_constrain  {time.strftime('%Y-%m-%d %H:%M')}  {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    print(f"pattern {pattern!r}, {args.rows} rows, vocabulary {len(vocabulary.strings):,}, best of {args.repeats}\n")
    print("| engine | compile ms | mask ms per step (all rows) | steps |")
    print("|---|---|---|---|")
    best_ours, steps = min(ours(constraint, token_sequences(constraint, args.rows, seed)) for seed in range(args.repeats))
    print(f"| agent.llm.constrain | {compile_s * 1e3:.0f} (+ {decoded_s * 1e3:.0f} to decode the vocabulary once) | "
          f"{best_ours / steps * 1e3:.2f} | {steps} |")
    try:
        runs = [theirs(tokenizer, pattern, token_sequences(constraint, args.rows, seed), len(vocabulary.strings))
                for seed in range(args.repeats)]
    except ImportError:
        print("| llguidance | not installed: pip install -e '.[bench]' | | |")
        return
    total, compile_llg, steps = min(runs)
    print(f"| llguidance {__import__('llguidance').__version__ if hasattr(__import__('llguidance'), '__version__') else ''} "
          f"| {compile_llg * 1e3:.0f} | {total / steps * 1e3:.2f} | {steps} |")


if __name__ == "__main__":
    main()
