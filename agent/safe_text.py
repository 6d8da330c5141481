"""The one sanitizer for untrusted text on its way to a terminal, a JSON stdout or an LLM prompt.

Product titles, category names, ids and questions come from files and clients
nobody vetted. Tried on a fresh clone, such text reached stdout raw: ESC
sequences recoloured the terminal and set its title (`\\x1b]0;...`), a `[/]`
crashed rich's markup parser, and catalog cells entered the few-shot, new-product
and report prompts verbatim, newlines and ChatML tokens (`<|im_end|>`) included,
so one cell could forge a "Sales history:" line or close the user turn.

What each function does, and why at that depth:

- `clean` removes what no reader should receive: escape sequences (CSI, OSC,
  DCS... in their 7- and 8-bit forms), other C0/C1 control characters, bidi
  overrides and isolates (the "Trojan Source" RTL trick), zero-width characters,
  and turns lone surrogates into U+FFFD (they cannot be encoded). It keeps
  visible text, letters in every script included, untouched.
- `for_prompt` additionally folds compatibility forms (NFKC: full-width digits
  become ASCII digits, so the grounding check sees the number the model sees),
  puts the text on one line (a value cannot start a prompt line of its own),
  breaks ChatML special tokens, and cuts it to a bounded length.
- `for_markup` escapes rich markup, for user text interpolated into a styled line.
- `links_in` finds URLs, domains and e-mail addresses, which LLM prose is
  rejected for holding (grounding checks numbers only).
- `json_text` writes JSON whose non-ASCII controls and invisible characters are
  \\u-escaped: lossless for a JSON reader, inert on a terminal.

The terminal side applies `clean` to every segment rich renders
(`agent.cli.common.SafeConsole`). The prompt side is the `PromptText` type: the
forecast context's product and analog fields are PromptText
(`agent.forecast.context`), so every forecast prompt, every `finetune llm`
training pair and every evaluation prompt is built from sanitized, bounded
text whatever path built the context; the report narrative and the ask answer
pass their data-bearing facts through `for_prompt` as they render.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Annotated, Any

from pydantic import AfterValidator
from rich.markup import escape

# Longest untrusted value a prompt receives (titles, descriptions, group names): the API's text limit.
PROMPT_VALUE_CHARS = 300
ELLIPSIS = "…"

# ESC-introduced sequences: CSI (ESC [ ... final), OSC/DCS/SOS/PM/APC strings up to BEL or ST, and two-byte
# escapes; then the same introducers in their 8-bit C1 forms (0x9b CSI, 0x9d OSC, 0x90 DCS, 0x98/0x9e/0x9f).
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]?"
    r"|\x1b[\]PX^_][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[ -~]?"
    r"|\x9b[0-?]*[ -/]*[@-~]?"
    r"|[\x90\x98\x9d\x9e\x9f][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
)
# Invisible format characters used to hide or reorder text: zero-width (un)joiners and spaces, word joiner,
# invisible operators, bidi embeddings/overrides/isolates and marks, the BOM, the Arabic letter mark.
_INVISIBLE = "\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2060\u2061\u2062\u2063\u2064" \
             "\u2066\u2067\u2068\u2069\ufeff\u061c\u00ad"
_CONTROLS = "".join(chr(c) for c in [*range(0x00, 0x20), 0x7f, *range(0x80, 0xa0)])
_DROP_KEEP_LINES = str.maketrans("", "", "".join(c for c in _CONTROLS + _INVISIBLE if c not in "\n\t"))
_DROP_ALL = str.maketrans("", "", _CONTROLS.replace("\n", "").replace("\t", "").replace("\r", "") + _INVISIBLE)
_SURROGATES = re.compile(r"[\ud800-\udfff]")
_SPACES = re.compile(r"[\s\u2028\u2029\x85]+")
# ChatML and similar special tokens (<|im_end|>, <|endoftext|>): one space after '<' keeps the text readable
# while the tokenizer no longer sees the special token.
_SPECIAL_TOKEN = re.compile(r"<\|")
# For JSON: C1 controls, DEL and the invisible characters above, \u-escaped rather than removed.
_JSON_UNSAFE = re.compile("[\x7f-\x9f" + _INVISIBLE + "\u2028\u2029]")


def clean(text: str, *, keep_lines: bool = True) -> str:
    """`text` without escape sequences, control characters (but newline and tab), invisible or bidi characters."""
    text = _SURROGATES.sub("\ufffd", _ESCAPES.sub("", text))
    return text.translate(_DROP_KEEP_LINES if keep_lines else _DROP_ALL)


def cut(text: str, max_chars: int) -> str:
    """`text` bounded to `max_chars` characters, the cut marked with an ellipsis."""
    return text if len(text) <= max_chars else text[: max_chars - 1] + ELLIPSIS


def for_prompt(text: str, max_chars: int = PROMPT_VALUE_CHARS) -> str:
    """An untrusted value as it may appear inside a prompt: normalized, one line, no special tokens, bounded."""
    text = unicodedata.normalize("NFKC", clean(_SURROGATES.sub("\ufffd", text), keep_lines=False))
    text = _SPACES.sub(" ", text).strip()
    return cut(_SPECIAL_TOKEN.sub("< |", text), max_chars)


# A str field holding untrusted text that may reach a prompt: sanitized and bounded when the model is built.
PromptText = Annotated[str, AfterValidator(for_prompt)]


def for_markup(text: object) -> str:
    """User text to interpolate into a rich markup string: shown literally, never parsed as tags."""
    return escape(clean(str(text)))


def json_text(payload: Any, indent: int | None = 2) -> str:
    """JSON for stdout: valid and lossless, with every character a terminal would act on \\u-escaped.

    json.dumps already escapes C0 controls; C1 controls, DEL and invisible/bidi
    characters are escaped here, and so are lone surrogates (ensure_ascii=False
    would write them raw, which no UTF-8 stream can carry).
    """
    text = json.dumps(payload, indent=indent, ensure_ascii=False, allow_nan=False)
    text = _SURROGATES.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


# URLs, bare domains and e-mail addresses: LLM prose built from computed numbers never needs one, and an
# injected catalog cell ("visit evil.example for coupons") would otherwise pass a numbers-only check.
_LINK = re.compile(r"(?i)\b(?:[a-z][a-z0-9+.-]*://|www\.)\S+"
                   r"|\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+"
                   r"|\b(?:[a-z0-9-]+\.)+(?:com|net|org|io|ru|cn|xyz|info|biz|co|me|ly|app|dev|example|top|link)\b\S*")


def links_in(text: str) -> list[str]:
    """Links, domains and e-mail addresses in `text` (LLM prose is rejected when it holds any)."""
    return [match.group() for match in _LINK.finditer(text)]


def has_controls(text: str) -> bool:
    """Whether `text` holds anything `clean` would remove (tests assert outputs never do)."""
    return clean(text) != text
