"""The question tagger across training seeds: train on templates + the `--train` sets for each seed (not saved),
then score the final Query (tagger.combine with the rules) on the `--score` sets.

Usage: python eval/tagger_seeds.py [--seeds 0 1 2] [--heads 1] [--train dev a b c d] [--score e d dev a b c]
           > eval/results/tagger_seeds_e.txt

A set scored but not trained on is development data only while it stays unseen by the templates' author too;
set E, for example, is development data here (its misses guided the template classes), not blind. Prints, per
seed, fully right / intent per scored set, and the training seconds; then the mean per set. With `--heads N`
(N > 1) each seed trains an N-head tagger (agent/ask/tagger.py: heads seeded seed .. seed + N - 1 on the same
features and templates) and each head is scored alone too, so the ensemble is compared with its own members;
then the median read time per question, one head against all N, in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from ask_questions import catalog_lexicon, mismatches  # noqa: E402

from agent.ask.rules import parse  # noqa: E402
from agent.ask.tagger import MAX_HEADS, Tagger, combine  # noqa: E402
from agent.data import load_builtin  # noqa: E402
from agent.training.tagger import QUESTIONS, load_question_sets, train, training_examples  # noqa: E402


def score(tagger: Tagger, label: str, scored: dict[str, list], parsed: dict[str, object], lexicon, misses: str | None
          ) -> dict[str, tuple[int, int]]:
    """Fully right and right intents per scored set; each miss of set `misses` printed."""
    found = {}
    for name, cases in scored.items():
        right = intents = 0
        for case in cases:
            tagged = tagger.read([case.question])[0]
            query = combine(tagged, parsed[case.question], lexicon)
            wrong = mismatches(query, case)
            right += not wrong
            intents += query.intent == case.intent
            if wrong and name == misses:
                print(f"  {label} {name} BAD {case.question!r} | {tagged.marked()} | {wrong}")
        found[name] = (right, intents)
    return found


def line(found: dict[str, tuple[int, int]], scored: dict[str, list]) -> str:
    return ", ".join(f"{name} {right}/{intents}/{len(scored[name])}" for name, (right, intents) in found.items())


def read_ms(tagger: Tagger, questions: list[str]) -> list[float]:
    times = []
    for question in questions:
        tic = time.perf_counter()
        tagger.read([question])
        times.append((time.perf_counter() - tic) * 1000)
    return times


def main() -> None:
    args = argparse.ArgumentParser()
    args.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args.add_argument("--heads", type=int, default=1, choices=range(1, MAX_HEADS + 1), metavar=f"1..{MAX_HEADS}",
                      help="Heads per tagger (each seed's heads are seeded seed, seed + 1, ...).")
    args.add_argument("--train", nargs="*", default=["dev", "a", "b", "c", "d"])
    args.add_argument("--score", nargs="+", default=["e", "d", "dev", "a", "b", "c"])
    args.add_argument("--epochs", type=int, default=15)
    args.add_argument("--templates", type=int, default=4000)
    args.add_argument("--misses", action="store_true", help="Print each missed question of the first scored set.")
    opts = args.parse_args()
    lexicon = catalog_lexicon()
    catalog = load_builtin().catalog
    seen = load_question_sets(QUESTIONS, opts.train)
    scored = load_question_sets(QUESTIONS, opts.score)
    parsed = {case.question: parse(case.question, lexicon) for cases in scored.values() for case in cases}
    misses = opts.score[0] if opts.misses else None
    totals: dict[str, list[int]] = {name: [0, 0] for name in scored}
    for seed in opts.seeds:
        tic = time.perf_counter()
        examples, counts = training_examples(catalog, seen, opts.templates, seed, lexicon)
        tagger, _ = train(examples, opts.epochs, seed, counts, opts.heads)
        seconds = time.perf_counter() - tic
        label = f"seed {seed}" if opts.heads == 1 else f"seed {seed}, {opts.heads} heads (seeds {tagger.config.seeds})"
        if opts.heads > 1:
            members = [Tagger(tagger.encoder, tagger.tokenizer, [head],
                              tagger.config.model_copy(update={"seeds": [member_seed]}))
                       for head, member_seed in zip(tagger.heads, tagger.config.seeds, strict=True)]
            alone = [score(member, f"head seed {member.config.seeds[0]}", scored, parsed, lexicon, misses)
                     for member in members]
            for member, found in zip(members, alone, strict=True):
                print(f"  head seed {member.config.seeds[0]} alone: {line(found, scored)}", flush=True)
            print("  heads alone, mean (min-max): " + ", ".join(
                f"{name} {statistics.mean(f[name][0] for f in alone):.1f} ({min(f[name][0] for f in alone)}-"
                f"{max(f[name][0] for f in alone)}) / {statistics.mean(f[name][1] for f in alone):.1f} "
                f"({min(f[name][1] for f in alone)}-{max(f[name][1] for f in alone)})" for name in scored))
        found = score(tagger, label, scored, parsed, lexicon, misses)
        for name, (right, intents) in found.items():
            totals[name][0] += right
            totals[name][1] += intents
        print(f"{label}: {line(found, scored)} (fully right/intent/questions); trained in {seconds:.0f} s "
              f"on {counts}", flush=True)
        if opts.heads > 1:
            questions = list(parsed)
            one, all_heads = [], []
            for _ in range(3):  # interleaved, so both see the same load
                one += read_ms(members[0], questions)
                all_heads += read_ms(tagger, questions)
            print(f"  read time per question, median of {len(one)}: 1 head {statistics.median(one):.1f} ms, "
                  f"{opts.heads} heads {statistics.median(all_heads):.1f} ms "
                  f"({statistics.median(all_heads) / statistics.median(one):.2f}x)", flush=True)
    print("mean: " + ", ".join(f"{name} {r / len(opts.seeds):.1f}/{i / len(opts.seeds):.1f}/{len(scored[name])}"
                                for name, (r, i) in totals.items()))


if __name__ == "__main__":
    main()
