"""The question tagger across training seeds: train on templates + the `--train` sets for each seed (not saved),
then score the final Query (tagger.combine with the rules) on the `--score` sets.

Usage: python eval/tagger_seeds.py [--seeds 0 1 2] [--train dev a b c d] [--score e d dev a b c]
           > eval/results/tagger_seeds_e.txt

A set scored but not trained on is development data only while it stays unseen by the templates' author too;
set E, for example, is development data here (its misses guided the template classes), not blind. Prints, per
seed, fully right / intent per scored set, and the training seconds; then the mean per set.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from ask_questions import catalog_lexicon, mismatches  # noqa: E402

from agent.ask.rules import parse  # noqa: E402
from agent.ask.tagger import combine  # noqa: E402
from agent.data import load_builtin  # noqa: E402
from agent.training.tagger import QUESTIONS, load_question_sets, train, training_examples  # noqa: E402


def main() -> None:
    args = argparse.ArgumentParser()
    args.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
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
    totals: dict[str, list[int]] = {name: [0, 0] for name in scored}
    for seed in opts.seeds:
        tic = time.perf_counter()
        examples, counts = training_examples(catalog, seen, opts.templates, seed, lexicon)
        tagger, _ = train(examples, opts.epochs, seed, counts)
        seconds = time.perf_counter() - tic
        line = []
        for name, cases in scored.items():
            right = intents = 0
            for case in cases:
                tagged = tagger.read([case.question])[0]
                query = combine(tagged, parse(case.question, lexicon), lexicon)
                wrong = mismatches(query, case)
                right += not wrong
                intents += query.intent == case.intent
                if wrong and opts.misses and name == opts.score[0]:
                    print(f"  seed {seed} {name} BAD {case.question!r} | {tagged.marked()} | {wrong}")
            totals[name][0] += right
            totals[name][1] += intents
            line.append(f"{name} {right}/{intents}/{len(cases)}")
        print(f"seed {seed}: {', '.join(line)} (fully right/intent/questions); trained in {seconds:.0f} s "
              f"on {counts}", flush=True)
    print("mean: " + ", ".join(f"{name} {r / len(opts.seeds):.1f}/{i / len(opts.seeds):.1f}/{len(scored[name])}"
                                for name, (r, i) in totals.items()))


if __name__ == "__main__":
    main()
