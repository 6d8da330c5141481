"""Question parsing, LLM vs rules, on the shared question set (tests/ask_questions.py), and ask latency.

Usage: python eval/bench_ask.py [--backend embedded|http] [--limit N] > eval/results/bench_ask.txt
       python eval/bench_ask.py --replay eval/results/bench_ask.txt   # same LLM outputs, current policy
       python eval/bench_ask.py --latency > eval/results/bench_ask_latency.txt  # `ask` end to end, PASTRY slice

For each question: the rules' Query, the LLM's raw reading (before any
fallback), and the final Query (LLM if it held up, else rules). Accuracy is
the share of questions whose fields all match the expected ones (intent,
products, horizon, store, price and the case's extras); intent accuracy
alone too; the time of each LLM parse is printed.
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from ask_questions import CASES, mismatches  # noqa: E402

from agent.ask.llm_parse import understand  # noqa: E402
from agent.llm.base import Generation  # noqa: E402
from agent.ask.rules import parse  # noqa: E402
from agent.pipeline import load_backend  # noqa: E402


class Replay:
    """A backend answering each question with the raw output an earlier run recorded for it."""

    name = model_id = "replay"

    def __init__(self, results: Path) -> None:
        lines = [line for line in results.read_text().splitlines() if " | llm: " in line]
        self.raws = [ast.literal_eval(re.search(r" \| llm: ('.*?'|\".*?\") \| ", line).group(1)) for line in lines]

    def generate(self, request) -> Generation:
        return Generation(texts=[self.raws.pop(0)], finish_reasons=["stop"], backend="replay", model="replay")

    def healthy(self) -> bool:
        return True


LATENCY_QUESTIONS = ["how many dinner rolls will sell in the next 4 weeks?",
                     "compare dinner rolls and apple pie over 4 weeks",
                     "what if dinner rolls cost $0.99?"]


def latency(choice: tuple) -> None:
    """Seconds per `ask` on the real PASTRY slice: parse + resolve + forecast(s) + sentence, after one warm-up."""
    from real_data import pastry_index, pastry_slice

    from agent.ask import ask
    from agent.pipeline import Shelfcast

    backend, note = choice
    print(f"backend: {note}; load average at start {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    app = Shelfcast(pastry_slice(), pastry_index(), backend)
    ask(app, "forecast apple pie for 2 weeks", yes=True)  # warm-up: encoder, automaton, caches
    for question in LATENCY_QUESTIONS:
        tic = time.perf_counter()
        answer = ask(app, question, yes=True)
        paths = ", ".join(f.path for f in answer.forecasts)
        print(f"{time.perf_counter() - tic:6.1f}s {question!r}: parsed by {answer.parsed_by}, text by "
              f"{answer.written_by}, forecast paths [{paths}], grounded {answer.grounded}", flush=True)


def main() -> None:
    args = argparse.ArgumentParser()
    args.add_argument("--backend", default="embedded")
    args.add_argument("--limit", type=int, default=len(CASES))
    args.add_argument("--replay", type=Path, help="Re-judge the raw LLM outputs of an earlier run (no model).")
    args.add_argument("--latency", action="store_true", help="Time `ask` end to end instead of parsing alone.")
    opts = args.parse_args()
    if opts.latency:
        latency(load_backend(opts.backend))
        return
    if opts.replay:
        backend = Replay(opts.replay)
        print(f"backend: replay of the raw outputs in {opts.replay}")
    else:
        backend, note = load_backend(opts.backend)
        print(f"backend: {note}")
    cases = CASES[:opts.limit]
    counts = {"rules": 0, "rules_intent": 0, "llm": 0, "llm_intent": 0, "final": 0, "accepted": 0}
    seconds = []
    for case in cases:
        rules = parse(case.question).query
        tic = time.perf_counter()
        understood = understand(case.question, backend)
        seconds.append(time.perf_counter() - tic)
        llm = understood.llm_query
        counts["rules"] += not mismatches(rules, case)
        counts["rules_intent"] += rules.intent == case.intent
        counts["llm"] += llm is not None and not mismatches(llm, case, exact_products=False)
        counts["llm_intent"] += llm is not None and llm.intent == case.intent
        counts["final"] += not mismatches(understood.query, case, exact_products=understood.parsed_by == "rules")
        counts["accepted"] += understood.parsed_by == "llm"
        wrong = mismatches(understood.query, case, exact_products=understood.parsed_by == "rules")
        print(f"{seconds[-1]:5.1f}s {understood.parsed_by:5s} {'ok ' if not wrong else 'BAD'} {case.question[:60]!r}"
              f" | llm: {understood.raw!r} | {understood.parse_note}" + (f" | {wrong}" if wrong else ""), flush=True)
    n = len(cases)
    print(f"\nquestions: {n}")
    print(f"rules: all fields right {counts['rules']}/{n} ({counts['rules'] / n:.0%}), intent {counts['rules_intent']}/{n}")
    print(f"LLM alone (before fallback): all fields right {counts['llm']}/{n} ({counts['llm'] / n:.0%}), "
          f"intent {counts['llm_intent']}/{n} ({counts['llm_intent'] / n:.0%})")
    print(f"LLM readings accepted: {counts['accepted']}/{n}; final Query right: {counts['final']}/{n}")
    print(f"LLM parse latency: median {sorted(seconds)[n // 2]:.1f}s, max {max(seconds):.1f}s")


if __name__ == "__main__":
    main()
