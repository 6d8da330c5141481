"""A scripted OpenAI-compatible completions server on 127.0.0.1 for fault-injection tests.

Each request's behaviour is read from the prompt's `Product:` line: a title
containing `invalid`, `http400`, `http503` or `slow` gets unparseable samples,
a 400, a 503 or an answer after `slow_s`; anything else gets `n` valid LLMTime
samples after `delay_s`. Every request's product title is recorded, so a test
can tell which products were asked for.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PRODUCT = re.compile(r"^Product: (.+?)(?: \(.*\))?$", re.MULTILINE)


class FakeOpenAI:
    def __init__(self, delay_s: float = 0.0, slow_s: float = 5.0, answer: str = "50, 60, 70, 80, ") -> None:
        self.delay_s, self.slow_s, self.answer = delay_s, slow_s, answer
        self.asked: list[str] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _send(self, code: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
                    pass

            def do_GET(self):
                if self.path == "/health":
                    self._send(200, {})
                elif self.path == "/v1/models":
                    self._send(200, {"object": "list", "data": [{"id": "fake-model", "object": "model", "created": 0,
                                                                 "owned_by": "test"}]})
                else:
                    self._send(404, {"error": {"message": "not found"}})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                match = PRODUCT.search(body.get("prompt", ""))
                title = match.group(1) if match else ""
                with fake._lock:
                    fake.asked.append(title)
                if "http400" in title:
                    return self._send(400, {"error": {"message": "scripted bad request", "type": "x", "code": 400}})
                if "http503" in title:
                    return self._send(503, {"error": {"message": "scripted overload", "type": "x", "code": 503}})
                time.sleep(fake.slow_s if "slow" in title else fake.delay_s)
                text = "not, numbers, " if "invalid" in title else fake.answer
                n = int(body.get("n", 1))
                self._send(200, {
                    "id": "c", "object": "text_completion", "created": 0, "model": body["model"],
                    "choices": [{"index": i, "text": text, "finish_reason": "stop", "logprobs": None}
                                for i in range(n)],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 8 * n, "total_tokens": 10 + 8 * n},
                })

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def take_asked(self) -> list[str]:
        with self._lock:
            asked, self.asked = self.asked, []
        return asked

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
