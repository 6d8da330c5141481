"""Question parsing (rules, question tagger, LLM, final) on the question sets, and `ask` end to end per intent.

Usage: python eval/bench_ask.py [--set dev|a|b|c|d|e] [--backend embedded|http|none] [--tagger newest|none|PATH]
           [--limit N] > eval/results/bench_ask[_SET].txt
       python eval/bench_ask.py [--set ...] --tagger none --replay eval/results/bench_ask[_SET].txt  # the recorded
           LLM outputs of that set's run, re-judged by the current rules and policy (no model; the prompt does not
           depend on the rules, so the outputs are what the model would write again at temperature 0)
       python eval/bench_ask.py --latency > eval/results/bench_ask_latency.txt  # one question per intent

Parsing: for each question, the rules' Query, the tagger's alone
(tagger.query_from_tags; `--tagger newest` is the newest under
$SHELFCAST_HOME/models/ask-tagger, as `ask` uses), the LLM's raw reading
(always asked when a backend is given, `force_llm`), and the final Query
`ask` uses: with a tagger, tagger.combine of its reading and the rules'; without
one, the rules' when they are sure (llm_parse.sure: `ask` does not call the
LLM then), else the LLM's if it held up, else the rules'. A question is right
when every field matches (intent, products, horizon, store, price and the
case's extras); intent accuracy alone too. The median parse time of the rules
and of the tagger, in the same run, is the tagger's latency cost. Sets: dev
(tests/ask_questions.py, the rules' development set), a and b
(tests/ask_questions_heldout.py: a was seen after its first scoring, b was
written after the rule changes and scored blind, then its misses were fixed as
classes, so it is no longer blind), c (tests/ask_questions_heldout_c.py:
written blind, scored once after the set-B fixes, 60/93, then seen and fixed:
eval/results/bench_ask_heldout_c.txt is the blind record), d
(tests/ask_questions_heldout_d.py: written blind after those fixes, scored once
by the rules: eval/results/bench_ask_heldout_d.txt; then the tagger's
development measure, never trained on until the shipped tagger:
eval/results/bench_ask_tagger_heldout_d.txt), e and f
(tests/ask_questions_heldout_e.py, _f.py: each written blind and scored once by
the tagger of its day, eval/results/bench_ask_tagger_heldout_e.txt and _f.txt,
then development data), and g (tests/ask_questions_heldout_g.py: written blind
for the tagger trained on templates + dev/A-F, scored once:
eval/results/bench_ask_tagger_heldout_g.txt; the run stops with a message while
a set's module is absent).
The rules read with the built-in catalog's Lexicon, as `ask` does with its
index's.

Latency: `ask` end to end with the backend (embedded SmolLM2 by default) on
a real slice of the built-in data (the grocery categories of issue 14 plus
PASTRY's bagels), one question per intent, after one warm-up: parse, resolve,
forecast(s) (the chain's LLM paths for products; AutoETS for categories),
and the sentence or report narrative, with who wrote it. The share of
LLM-written sentences accepted by agent.prose is printed at the end.
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

from ask_questions import catalog_lexicon, mismatches  # noqa: E402

from agent.ask.llm_parse import sure, understand  # noqa: E402
from agent.ask.rules import parse  # noqa: E402
from agent.ask.tagger import Tagger, combine, newest, query_from_tags, tagger_root  # noqa: E402
from agent.llm.base import Generation  # noqa: E402
from agent.pipeline import load_backend  # noqa: E402
from agent.training.tagger import load_question_sets  # noqa: E402

TESTS = Path(__file__).resolve().parents[1] / "tests"
SETS = ("dev", "a", "b", "c", "d", "e", "f", "g")


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


LATENCY_QUESTIONS = [
    "how much ice cream will sell in the next 4 weeks?",
    "forecast potato chips 13.75 oz for 4 weeks",
    "which will sell more in the next 4 weeks, cola or lemonade?",
    "raise the price of eggs to $3.29",
    "reorder yogurt, lead time 2 weeks, 95% service level",
    'we are launching "vanilla oat milk ice cream 16 oz", how many in 8 weeks?',
    "trend report for cereal please",
]


def latency(choice: tuple) -> None:
    """Seconds per `ask` on the grocery slice, one question per intent, and who wrote each sentence."""
    from real_data import grocery_index, grocery_slice

    from agent.ask import ask
    from agent.pipeline import Shelfcast
    from agent.report import ReportRequest, build_report

    backend, note = choice
    print(f"backend: {note}; load average at start {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    app = Shelfcast(grocery_slice(), grocery_index(), backend)
    ask(app, "forecast yogurt for 2 weeks", yes=True, narrate_with_llm=False)  # warm-up: encoder, tables, caches
    written = {"llm": 0, "template": 0}
    for question in LATENCY_QUESTIONS:
        tic = time.perf_counter()
        answer = ask(app, question, yes=True, narrate_with_llm=True)
        seconds = time.perf_counter() - tic
        paths = ", ".join(f.path for f in answer.forecasts)
        why = next((n for n in reversed(answer.notes) if "sentence" in n), "")
        if answer.intent != "trend_report":
            written[answer.written_by] += 1
        print(f"{seconds:6.1f}s {answer.intent:14s} {question!r}: parsed by {answer.parsed_by}, text by "
              f"{answer.written_by}, forecast paths [{paths}], grounded {answer.grounded}\n"
              f"        text: {answer.text[:300]}\n        why: {why[:300]}", flush=True)
    tic = time.perf_counter()
    report = build_report(app, ReportRequest(department="GROCERY", category="COLD CEREAL", horizon=8))
    print(f"{time.perf_counter() - tic:6.1f}s report narrative for GROCERY / COLD CEREAL: {report.narrative.source} "
          f"({report.narrative.reason[:300]})")
    written[report.narrative.source] += 1
    total = sum(written.values())
    print(f"\nLLM-written sentences and narratives accepted by agent.prose: {written['llm']}/{total}; "
          f"load average at end {os.getloadavg()[0]:.1f}")


def accuracy(name: str, cases: list, backend, tagger: Tagger | None) -> None:
    """Per question: the final Query `ask` uses (first column: who decided it) and what is wrong with it; then
    the counts for the rules alone, the tagger alone, the LLM alone and the final Query."""
    readers = ["rules"] + (["tagger"] if tagger else []) + (["llm"] if backend else []) + ["final"]
    right = {reader: 0 for reader in readers}
    intents = dict(right)
    counts = {"accepted": 0, "sure": 0}
    llm_seconds, tag_seconds, rule_seconds = [], [], []
    lexicon = catalog_lexicon()  # the built-in catalog's words, as `ask` passes its index's
    for case in cases:
        tic = time.perf_counter()
        rules = parse(case.question, lexicon)
        rule_seconds.append(time.perf_counter() - tic)
        queries = {"rules": (rules.query, True)}
        note = ""
        if tagger:
            tic = time.perf_counter()
            tagged = tagger.read([case.question])[0]
            tag_seconds.append(time.perf_counter() - tic)
            queries["tagger"] = (query_from_tags(tagged)[0], True)
            final, final_by = combine(tagged, rules, lexicon), "tagger"
            note = tagged.marked()
        if backend:
            tic = time.perf_counter()
            understood = understand(case.question, backend, lexicon, force_llm=True)
            llm_seconds.append(time.perf_counter() - tic)
            if understood.llm_query is not None:
                queries["llm"] = (understood.llm_query, False)
            rules_sure = sure(rules)
            counts["sure"] += rules_sure
            if not tagger:
                final, final_by = (rules.query, "rules") if rules_sure else (understood.query, understood.parsed_by)
                note = (f"llm: {understood.raw!r} | "
                        + ("rules sure (LLM not asked by ask)" if rules_sure else understood.parse_note))
        elif not tagger:
            final, final_by = rules.query, "rules"
        counts["accepted"] += final_by == "llm"
        queries["final"] = (final, final_by != "llm")
        for reader, (query, exact) in queries.items():
            right[reader] += not mismatches(query, case, exact_products=exact)
            intents[reader] += query.intent == case.intent
        wrong = mismatches(final, case, exact_products=final_by != "llm")
        print(f"{final_by:6s} {'ok ' if not wrong else 'BAD'} {case.question[:60]!r} | {note}"
              + (f" | {wrong}" if wrong else ""), flush=True)
    n = len(cases)
    print(f"\nset {name}: {n} questions")
    for reader in readers:
        label = {"rules": "rules alone", "tagger": "tagger alone", "llm": "LLM alone (before fallback)",
                 "final": "final Query"}[reader]
        print(f"{label}: all fields right {right[reader]}/{n} ({right[reader] / n:.0%}), "
              f"intent {intents[reader]}/{n} ({intents[reader] / n:.0%})")
    if backend:
        print(f"rules sure (no LLM call without a tagger) for {counts['sure']}/{n}; LLM readings used "
              f"{counts['accepted']}/{n}; LLM parse latency: median {sorted(llm_seconds)[n // 2]:.1f}s")
    median_ms = lambda values: 1000 * sorted(values)[len(values) // 2]  # noqa: E731
    print(f"parse latency per question: rules median {median_ms(rule_seconds):.1f} ms"
          + (f", tagger median {median_ms(tag_seconds):.1f} ms (max {1000 * max(tag_seconds):.0f} ms)" if tagger
             else "") + f"; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


def load_set(name: str) -> list:
    """A question set's cases; exits with a clear message when its file is not there (yet)."""
    found = load_question_sets(TESTS, [name])
    if name not in found:
        sys.exit(f"set {name}: its module is not in {TESTS} (a blind set is added once the parser it scores is done)")
    return found[name]


def main() -> None:
    args = argparse.ArgumentParser()
    args.add_argument("--backend", default="embedded", help="LLM backend, or 'none' to skip the LLM reading.")
    args.add_argument("--set", choices=SETS, default="dev")
    args.add_argument("--limit", type=int)
    args.add_argument("--tagger", default="newest",
                      help="Tagger artifact folder, 'newest' (under $SHELFCAST_HOME/models/ask-tagger) or 'none'.")
    args.add_argument("--replay", type=Path, help="Re-judge the raw LLM outputs of an earlier run of the same set (no model).")
    args.add_argument("--latency", action="store_true", help="Time `ask` end to end instead of parsing alone.")
    opts = args.parse_args()
    if opts.latency:
        latency(load_backend(opts.backend))
        return
    cases = load_set(opts.set)[:opts.limit]
    if opts.replay:
        backend = Replay(opts.replay)
        print(f"backend: replay of the raw outputs in {opts.replay}")
    else:
        backend, note = load_backend(opts.backend)
        print(f"backend: {note}")
    path = None if opts.tagger == "none" else newest(tagger_root()) if opts.tagger == "newest" else Path(opts.tagger)
    tagger = Tagger.load(path) if path else None
    print(f"tagger: {path or 'none'}" + (f" (trained on {tagger.config.examples})" if tagger else ""))
    accuracy(opts.set, cases, backend, tagger)


if __name__ == "__main__":
    main()
