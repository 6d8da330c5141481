"""Constrained sampling for the embedded backend: a regex automaton over the vocabulary, or validate-and-resample.

The forecast prompts ask for numeric continuations such as `(?:\\d{1,3}, ){3}`
(see `agent.forecast.serialize.continuation_regex`). A small model asked for
numbers writes words, so the embedded backend masks every token that would take
the text off the pattern. The pattern is compiled to a character automaton (a
Thompson NFA, determinized lazily) and each vocabulary token is checked by
running its decoded characters through it; EOS is allowed only where the
pattern may end, and is the only choice once it can go no further. Samples are
still checked with `re.fullmatch` at the end, so a bug here shows up as an
"invalid" finish reason, never as text that silently breaks the pattern.

Only a regex subset is compiled: literals, escaped punctuation, `\\d`, `\\s`,
character classes without negation, groups, alternation and the quantifiers
`? * + {m} {m,} {m,n}`. Anything else (`.`, `\\w`, anchors, lookarounds,
backreferences, inline flags) raises `UnsupportedPattern`, and the backend
falls back to sampling freely and checking each sample with `re.fullmatch`.
JSON schemas are always validate-and-resample: `json.loads` plus the small
schema check below, which refuses keywords it does not enforce rather than
ignoring them.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase

# Finish reason of a sample that still failed its regex or schema after resampling.
INVALID = "invalid"

Validator = Callable[[str], bool]

DIGITS = frozenset("0123456789")
WHITESPACE = frozenset(" \t\n\r\f\v")
# Bounded repeats are expanded into copies; past this size the pattern is not worth an automaton.
MAX_NFA_STATES = 20_000


class UnsupportedPattern(ValueError):
    """The regex is valid but outside the subset compiled to an automaton."""


# ----------------------------------------------------------------------------- regex subset -> NFA


@dataclass(frozen=True)
class _Chars:
    chars: frozenset[str]


@dataclass(frozen=True)
class _Seq:
    items: tuple[Any, ...]


@dataclass(frozen=True)
class _Alt:
    branches: tuple[Any, ...]


@dataclass(frozen=True)
class _Repeat:
    node: Any
    low: int
    high: int | None


class _Parser:
    """Recursive-descent parser for the supported subset; raises UnsupportedPattern on anything else."""

    def __init__(self, pattern: str) -> None:
        self.text = pattern
        self.pos = 0

    def parse(self) -> Any:
        node = self._alt()
        if self.pos != len(self.text):
            raise UnsupportedPattern(f"unexpected {self.text[self.pos]!r} at {self.pos}")
        return node

    def _peek(self) -> str | None:
        return self.text[self.pos] if self.pos < len(self.text) else None

    def _take(self) -> str:
        if self.pos >= len(self.text):
            raise UnsupportedPattern("unexpected end of pattern")
        char = self.text[self.pos]
        self.pos += 1
        return char

    def _alt(self) -> Any:
        branches = [self._seq()]
        while self._peek() == "|":
            self.pos += 1
            branches.append(self._seq())
        return branches[0] if len(branches) == 1 else _Alt(tuple(branches))

    def _seq(self) -> _Seq:
        items = []
        while self._peek() not in (None, "|", ")"):
            items.append(self._quantified(self._atom()))
        return _Seq(tuple(items))

    def _atom(self) -> Any:
        char = self._take()
        if char == "(":
            if self._peek() == "?":
                self._group_prefix()
            node = self._alt()
            if self._take() != ")":
                raise UnsupportedPattern("unbalanced group")
            return node
        if char == "[":
            return self._class()
        if char == "\\":
            return _Chars(self._escape())
        if char in ".^$*+?{":
            raise UnsupportedPattern(f"{char!r} is not supported")
        return _Chars(frozenset(char))

    def _group_prefix(self) -> None:
        """Accept `(?:` and `(?P<name>`; lookarounds, flags and the rest are out of the subset."""
        if self.text.startswith("?:", self.pos):
            self.pos += 2
        elif match := re.compile(r"\?P<\w+>").match(self.text, self.pos):
            self.pos = match.end()
        else:
            raise UnsupportedPattern(f"group syntax at {self.pos}")

    def _escape(self) -> frozenset[str]:
        # \d and \s are the ASCII sets: a subset of what `re` accepts, so constrained text still fullmatches.
        char = self._take()
        if char == "d":
            return DIGITS
        if char == "s":
            return WHITESPACE
        simple = {"n": "\n", "t": "\t", "r": "\r", "f": "\f", "v": "\v"}
        if char in simple:
            return frozenset(simple[char])
        if char.isalnum():  # \w, \b, backreferences, \A ...: not in the subset
            raise UnsupportedPattern(f"escape \\{char}")
        return frozenset(char)

    def _class(self) -> _Chars:
        if self._peek() in ("^", "]"):
            raise UnsupportedPattern("negated or bracket-leading character class")
        chars: set[str] = set()
        while (char := self._take()) != "]":
            if char == "\\":
                chars |= self._escape()
                continue
            if self._peek() == "-" and self.pos + 1 < len(self.text) and self.text[self.pos + 1] != "]":
                self.pos += 1
                end = self._take()
                if end == "\\" or ord(end) < ord(char):
                    raise UnsupportedPattern("character range")
                chars |= {chr(code) for code in range(ord(char), ord(end) + 1)}
            else:
                chars.add(char)
        return _Chars(frozenset(chars))

    def _quantified(self, node: Any) -> Any:
        char = self._peek()
        if char in ("?", "*", "+"):
            self.pos += 1
            low, high = {"?": (0, 1), "*": (0, None), "+": (1, None)}[char]
        elif char == "{":
            match = re.compile(r"\{(\d*)(,?)(\d*)\}").match(self.text, self.pos)
            if not match or not (match.group(1) or match.group(3)):
                raise UnsupportedPattern(f"brace at {self.pos}")
            self.pos = match.end()
            low = int(match.group(1) or 0)
            high = low if not match.group(2) else (int(match.group(3)) if match.group(3) else None)
        else:
            return node
        if self._peek() == "?":  # lazy: the same set of full matches
            self.pos += 1
        if self._peek() in ("+", "?", "*", "{"):
            raise UnsupportedPattern("possessive or repeated quantifier")
        return _Repeat(node, low, high)


class _Nfa:
    """Thompson NFA: per state, epsilon targets and (character set, target) edges."""

    def __init__(self) -> None:
        self.epsilon: list[list[int]] = []
        self.edges: list[list[tuple[frozenset[str], int]]] = []

    def new(self) -> int:
        if len(self.epsilon) >= MAX_NFA_STATES:
            raise UnsupportedPattern(f"more than {MAX_NFA_STATES} automaton states")
        self.epsilon.append([])
        self.edges.append([])
        return len(self.epsilon) - 1

    def build(self, node: Any) -> tuple[int, int]:
        """Add a fragment for `node`; return its (start, end) states."""
        start = self.new()
        if isinstance(node, _Chars):
            end = self.new()
            self.edges[start].append((node.chars, end))
            return start, end
        if isinstance(node, _Seq):
            end = start
            for item in node.items:
                first, last = self.build(item)
                self.epsilon[end].append(first)
                end = last
            return start, end
        if isinstance(node, _Alt):
            end = self.new()
            for branch in node.branches:
                first, last = self.build(branch)
                self.epsilon[start].append(first)
                self.epsilon[last].append(end)
            return start, end
        assert isinstance(node, _Repeat)
        current = start
        for _ in range(node.low):
            first, last = self.build(node.node)
            self.epsilon[current].append(first)
            current = last
        if node.high is None:
            first, last = self.build(node.node)
            self.epsilon[current].append(first)
            self.epsilon[last].append(current)
            return start, current
        end = self.new()
        self.epsilon[current].append(end)
        for _ in range(node.high - node.low):
            first, last = self.build(node.node)
            self.epsilon[current].append(first)
            self.epsilon[last].append(end)
            current = last
        return start, end


DEAD = -1


class CharAutomaton:
    """A regex subset as a DFA over characters, determinized lazily (only reached states are built)."""

    def __init__(self, pattern: str) -> None:
        re.compile(pattern)  # a malformed pattern is the caller's error, not an unsupported one
        self._nfa = _Nfa()
        nfa_start, self._accept = self._nfa.build(_Parser(pattern).parse())
        self.alphabet = frozenset().union(*(chars for edges in self._nfa.edges for chars, _ in edges))
        self._sets: list[frozenset[int]] = []
        self._ids: dict[frozenset[int], int] = {}
        self._steps: dict[tuple[int, str], int] = {}
        self.start = self._intern(self._closure({nfa_start}))

    def _closure(self, states: set[int]) -> frozenset[int]:
        stack, seen = list(states), set(states)
        while stack:
            for target in self._nfa.epsilon[stack.pop()]:
                if target not in seen:
                    seen.add(target)
                    stack.append(target)
        return frozenset(seen)

    def _intern(self, states: frozenset[int]) -> int:
        if not states:
            return DEAD
        if states not in self._ids:
            self._ids[states] = len(self._sets)
            self._sets.append(states)
        return self._ids[states]

    def step(self, state: int, char: str) -> int:
        if state == DEAD:
            return DEAD
        key = (state, char)
        if key not in self._steps:
            targets = {target for nfa_state in self._sets[state]
                       for chars, target in self._nfa.edges[nfa_state] if char in chars}
            self._steps[key] = self._intern(self._closure(targets))
        return self._steps[key]

    def walk(self, state: int, text: str) -> int:
        for char in text:
            state = self.step(state, char)
            if state == DEAD:
                break
        return state

    def accepting(self, state: int) -> bool:
        return state != DEAD and self._accept in self._sets[state]

    def fullmatch(self, text: str) -> bool:
        return self.accepting(self.walk(self.start, text))


# ----------------------------------------------------------------------------- automaton x vocabulary


@dataclass(frozen=True)
class Vocabulary:
    """Each token id's decoded text ('' for special tokens, which a pattern never allows) and the EOS ids."""

    strings: tuple[str, ...]
    eos_ids: tuple[int, ...]

    @classmethod
    def from_tokenizer(cls, tokenizer: PreTrainedTokenizerBase, eos_ids: Sequence[int]) -> Vocabulary:
        """Decode every token once (about 1 s for a 49k vocabulary), so patterns compile in milliseconds."""
        special = set(tokenizer.all_special_ids)
        strings = tuple("" if index in special else tokenizer.decode([index]) for index in range(len(tokenizer)))
        return cls(strings, tuple(eos_ids))


class TokenConstraint:
    """A pattern against one vocabulary: per automaton state, the tokens that keep the text on the pattern.

    Masks and transitions are cached per automaton state, so after the first
    few steps a sampling step costs one dictionary lookup per row.
    """

    def __init__(self, automaton: CharAutomaton, vocabulary: Vocabulary) -> None:
        self.automaton = automaton
        self.vocabulary = vocabulary
        # Only tokens made entirely of the pattern's characters can ever be allowed.
        self._candidates = [(index, text) for index, text in enumerate(vocabulary.strings)
                            if text and set(text) <= automaton.alphabet]
        self._continuations: dict[int, torch.Tensor] = {}
        self._next: dict[int, dict[int, int]] = {}

    @property
    def vocabulary_size(self) -> int:
        return len(self.vocabulary.strings)

    @classmethod
    def compile(cls, pattern: str, vocabulary: Vocabulary) -> TokenConstraint:
        """Raises UnsupportedPattern outside the subset, re.error when the pattern is malformed."""
        return cls(CharAutomaton(pattern), vocabulary)

    def continuations(self, state: int) -> torch.Tensor:
        """Ids of the tokens that keep the text on the pattern from `state` (EOS not included)."""
        if state not in self._continuations:
            moves = {}
            if state != DEAD:
                for index, text in self._candidates:
                    target = self.automaton.walk(state, text)
                    if target != DEAD:
                        moves[index] = target
            self._next[state] = moves
            self._continuations[state] = torch.tensor(list(moves), dtype=torch.long)
        return self._continuations[state]

    def may_end(self, state: int) -> bool:
        """Where EOS is allowed: the pattern is complete here, or nothing can follow.

        The second case keeps a row from being left with nothing to sample; the
        final fullmatch check catches the rare dead end it hides (a vocabulary
        without the characters the pattern needs).
        """
        return self.automaton.accepting(state) or len(self.continuations(state)) == 0

    def advance(self, state: int, token: int) -> int:
        """The state after sampling `token`; EOS (and padding after it) leads to DEAD, which allows only EOS."""
        self.continuations(state)
        return self._next[state].get(token, DEAD)

    def allowed(self, states: Sequence[int], columns: torch.Tensor) -> torch.Tensor:
        """Rows x `columns` (sorted token ids): which of them each row may draw, EOS where the pattern may end.

        The cheap form of `mask` for when `columns` hold every continuation of
        every row: no row then needs EOS's logsumexp over the whole vocabulary.
        """
        allowed = torch.zeros(len(states), len(columns), dtype=torch.bool)
        for row, state in enumerate(states):
            ids = self.continuations(state)
            if self.may_end(state):
                ids = torch.cat([ids, torch.tensor(self.vocabulary.eos_ids[:1])])
            allowed[row, torch.searchsorted(columns, ids)] = True
        return allowed

    def mask(self, states: Sequence[int], scores: torch.Tensor) -> torch.Tensor:
        """Keep, per row, only the tokens that continue the pattern from its state, and EOS where it may end.

        Where the pattern may end, EOS gets the probability of every token that
        would leave the pattern (its logit is their logsumexp): the model choosing
        to write something else, typically the separator after the last value, is
        read as the end of the match, as if it had sampled freely and been cut at
        the first character that does not fit. Without this, in a pattern ending
        on `\\d{1,3}`, a complete last value competes only with more digits, and
        the model, which wants a comma there, pads it (SmolLM2 wrote 641 for 64).
        Applied before temperature scaling, so at temperatures other than 1 this
        approximates that cut.
        """
        eos = self.vocabulary.eos_ids[0]
        masked = torch.full_like(scores, -math.inf)
        for row, state in enumerate(states):
            ids = self.continuations(state)
            masked[row, ids] = scores[row, ids]
            if self.may_end(state):
                leaving = scores[row].clone()
                leaving[ids] = -math.inf
                masked[row, eos] = torch.logsumexp(leaving, dim=0)
        return masked



# ----------------------------------------------------------------------------- validators


def regex_validator(pattern: str) -> Validator:
    compiled = re.compile(pattern)
    return lambda text: compiled.fullmatch(text) is not None


def json_validator(schema: dict[str, Any]) -> Validator:
    """`json.loads` then the schema check; raises UnsupportedSchema up front for keywords it cannot enforce."""
    check_schema_supported(schema)

    def validate(text: str) -> bool:
        try:
            value = json.loads(text)
        except ValueError:
            return False
        return json_matches(value, schema, schema)

    return validate


class UnsupportedSchema(ValueError):
    """The JSON schema uses a keyword this checker does not enforce."""


ENFORCED = frozenset({"type", "enum", "const", "properties", "required", "additionalProperties", "items",
                      "minItems", "maxItems", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
                      "minLength", "maxLength", "anyOf", "allOf", "$ref", "$defs", "definitions"})
# Annotations carry no constraint ('format' is an annotation by default in JSON Schema 2020-12).
ANNOTATIONS = frozenset({"title", "description", "default", "examples", "format", "$schema", "$id", "$comment"})
SUBSCHEMA_MAPS = ("properties", "$defs", "definitions")
SUBSCHEMA_LISTS = ("anyOf", "allOf")
TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer()),
}


def check_schema_supported(schema: Any) -> None:
    if not isinstance(schema, dict):
        if isinstance(schema, bool):
            return
        raise UnsupportedSchema(f"schema must be an object, got {schema!r}")
    unknown = set(schema) - ENFORCED - ANNOTATIONS
    if unknown:
        raise UnsupportedSchema(f"JSON schema keywords not enforced by the embedded backend: {sorted(unknown)}")
    types = schema.get("type", [])
    if any(name not in TYPES for name in ([types] if isinstance(types, str) else types)):
        raise UnsupportedSchema(f"unknown JSON schema type in {types!r}")
    ref = schema.get("$ref")
    if ref is not None and not re.fullmatch(r"#/(\$defs|definitions)/[^/]+", ref):
        raise UnsupportedSchema(f"only local $ref to #/$defs/... is supported, got {ref!r}")
    for key in SUBSCHEMA_MAPS:
        for sub in schema.get(key, {}).values():
            check_schema_supported(sub)
    for key in SUBSCHEMA_LISTS:
        for sub in schema.get(key, []):
            check_schema_supported(sub)
    for key in ("items", "additionalProperties"):
        if key in schema:
            check_schema_supported(schema[key])


def json_matches(value: Any, schema: Any, root: dict[str, Any]) -> bool:
    """Whether `value` satisfies `schema` (already checked by check_schema_supported)."""
    if isinstance(schema, bool):
        return schema
    if "$ref" in schema:
        _, section, name = schema["$ref"].split("/", 2)
        if not json_matches(value, root.get(section, {}).get(name, False), root):
            return False
    types = schema.get("type")
    if types is not None and not any(TYPES[t](value) for t in ([types] if isinstance(types, str) else types)):
        return False
    if "enum" in schema and value not in schema["enum"]:
        return False
    if "const" in schema and value != schema["const"]:
        return False
    if "anyOf" in schema and not any(json_matches(value, sub, root) for sub in schema["anyOf"]):
        return False
    if "allOf" in schema and not all(json_matches(value, sub, root) for sub in schema["allOf"]):
        return False
    if TYPES["number"](value) and not _in_bounds(value, schema):
        return False
    if isinstance(value, str) and not schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", math.inf):
        return False
    if isinstance(value, list):
        if not schema.get("minItems", 0) <= len(value) <= schema.get("maxItems", math.inf):
            return False
        if "items" in schema and not all(json_matches(item, schema["items"], root) for item in value):
            return False
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        if any(key not in value for key in schema.get("required", [])):
            return False
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if not json_matches(item, properties.get(key, extra), root):
                return False
    return True


def _in_bounds(value: float, schema: dict[str, Any]) -> bool:
    return (value >= schema.get("minimum", -math.inf) and value <= schema.get("maximum", math.inf)
            and value > schema.get("exclusiveMinimum", -math.inf) and value < schema.get("exclusiveMaximum", math.inf))
