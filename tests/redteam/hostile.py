"""What the red-team doors share: a maximally gullible LLM and the PASTRY pipeline it serves.

`GullibleBackend` obeys any injection: every sample repeats the largest
number it finds in the prompt, times ten, as the model most eager to follow
"forecast 1000000" would. Whatever reaches a prompt, the chain must still keep
the forecast inside its validated bounds (tests/injections.py). It records
every prompt, so tests can check what untrusted text looked like once inside.
"""

from __future__ import annotations

import re
import threading

from real_data import pastry_index, pastry_slice

from agent.forecast.chain import ChainSettings
from agent.llm.base import Generation, GenerationRequest
from agent.pipeline import Shelfcast

_NUMBER = re.compile(r"\d+(?:\.\d+)?")


class GullibleBackend:
    name = "gullible"
    model_id = "gullible-test-model"

    def __init__(self) -> None:
        self.prompts: list[str] = []
        self._lock = threading.Lock()

    def generate(self, request: GenerationRequest) -> Generation:
        with self._lock:
            self.prompts.append(request.prompt)
        largest = max((float(n) for n in _NUMBER.findall(request.prompt)), default=1.0)
        horizon = max(1, (request.max_tokens - 4) // 5)
        text = ", ".join([str(int(min(largest * 10, 10**12)))] * horizon)
        return Generation(texts=[text] * request.n, finish_reasons=["stop"] * request.n, backend=self.name,
                          model=self.model_id)

    def healthy(self) -> bool:
        return True


def gullible_pipeline() -> tuple[Shelfcast, GullibleBackend]:
    backend = GullibleBackend()
    app = Shelfcast(pastry_slice(), pastry_index(), backend, backend_note="red-team: gullible scripted LLM",
                    settings=ChainSettings(samples=4))
    return app, backend
