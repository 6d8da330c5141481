"""The one rule between LLM prose and the user (agent/prose.py): grounded, complete, in the facts' words."""

from __future__ import annotations

from agent.llm.base import BackendError, Generation, GenerationRequest
from agent.prose import Spec, clean, judge, write

# The facts of "how many bagels will sell in the next 4 weeks?" as the template states them.
FACTS = ("Refrigerated Bagels 17.1 OZ (1000908): about 22 unit(s) over the next 4 weeks "
         "(80% interval 8 to 50), answered by regression.")
SPEC = Spec(facts=FACTS, numbers=[22.0, 8.0, 50.0, 4.0, 17.1, 1000908.0, 0.8, 5.48],
            subjects=["Refrigerated Bagels 17.1 OZ", "bagels", "1000908"], main=[22.0], horizon=4)


class Scripted:
    name = model_id = "scripted"

    def __init__(self, *texts: str, fail: bool = False) -> None:
        self.texts, self.fail = list(texts), fail

    def generate(self, request: GenerationRequest) -> Generation:
        if self.fail:
            raise BackendError("down")
        return Generation(texts=self.texts, finish_reasons=["stop"] * len(self.texts), backend="scripted",
                          model="scripted")

    def healthy(self) -> bool:
        return True


REQUEST = GenerationRequest(prompt="x", n=1, max_tokens=8)


def test_eating_17_17_never_reaches_the_user() -> None:
    """The sentence SmolLM2 wrote for `make demo`'s question: its only number is a size in the title."""
    prose = write(Scripted("Eating 17-17."), REQUEST, SPEC, FACTS)  # type: ignore[arg-type]
    assert prose.source == "template" and prose.text == FACTS
    assert prose.draft == "Eating 17-17." and "rejected" in prose.reason


def test_a_complete_grounded_sentence_is_accepted() -> None:
    good = "We expect to sell about 22 refrigerated bagels over the next 4 weeks, most likely between 8 and 50."
    prose = write(Scripted(good), REQUEST, SPEC, FACTS)  # type: ignore[arg-type]
    assert prose.source == "llm" and prose.text == good


def test_each_missing_part_is_named() -> None:
    cases = {
        "Bagels will sell about 23 over the next 4 weeks.": "numbers nothing computed: 23",
        "Refrigerated bagels will sell about 22.": "horizon",
        "Refrigerated bagels sell well over the next 4 weeks.": "main figure",
        "We expect about 22 units over the next 4 weeks.": "does not name",
        "Delicious refrigerated bagels: about 22 units over the next 4 weeks.": "words the facts do not have: Delicious",
        "Eating 17.1 bagels over the next 4 weeks.": "words the facts do not have",
    }
    for draft, why in cases.items():
        text, reason, _ = judge(draft, SPEC)
        assert reason is not None and why in reason, (draft, reason)


def test_first_acceptable_draft_wins_and_backend_errors_fall_back() -> None:
    good = "Refrigerated bagels: about 22 units over the next 4 weeks."
    assert write(Scripted("Eating 17-17.", good), REQUEST, SPEC, FACTS).text == good  # type: ignore[arg-type]
    down = write(Scripted(fail=True), REQUEST, SPEC, FACTS)  # type: ignore[arg-type]
    assert down.source == "template" and "unavailable" in down.reason
    assert write(None, REQUEST, SPEC, FACTS).reason.startswith("no LLM backend")


def test_next_week_states_a_one_week_horizon() -> None:
    spec = SPEC.model_copy(update={"horizon": 1, "facts": FACTS.replace("4 weeks", "1 weeks")})
    assert judge("Refrigerated bagels: about 22 units next week.", spec)[1] is None


def test_unfinished_last_sentence_is_dropped_and_ordinals_are_numbers() -> None:
    spec = Spec(facts="Sales grew. Bread rose. products sold at least half of in the market ranked",
                numbers=[118.0, 1.0], subjects=["bread"], main=[], min_sentences=1)
    text, reason, _ = judge("Sales grew. Bread rose. The 118 products sold at least half of", spec)
    assert text == "Sales grew. Bread rose." and reason is None
    _, reason, bad = judge("Bread ranked 21st in the market.", spec)
    assert bad == ["21"] and reason is not None
    assert judge("Bread ranked 1st in the market.", spec)[1] is None


def test_clean_strips_markup_and_bounds_length() -> None:
    text = clean("<|im_start|>## Title\n- item one. <a href='http://x'>link</a> `code`" + " word." * 400)
    assert "<" not in text and "#" not in text and "`" not in text and len(text) <= 900
    assert text.endswith(".")


def test_a_draft_giving_a_group_the_wrong_direction_is_rejected() -> None:
    spec = Spec(facts="PASTRY BREAD data suggests sales kept", numbers=[], subjects=["PASTRY"], main=[],
                growth={"PASTRY": -0.036, "BREAD": 0.071})
    _, reason, _ = judge("The data suggests that PASTRY is growing. BREAD rose too.", spec)
    assert reason == "it says the opposite of the statistics: PASTRY rose"
    assert judge("PASTRY sales fell in the last weeks. BREAD kept growing.", spec)[1] is None
    # Two groups in one sentence, or no direction word: nothing to hold the draft to.
    assert judge("PASTRY and BREAD grew. Sales were steady.", spec)[1] is None
