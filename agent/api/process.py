"""`shelfcast serve` as a child process on a free loopback port: for the end-to-end test and the API benchmark."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from agent.llm.server import HOST, free_port, wait_ready


@dataclass(frozen=True)
class ServerProcess:
    url: str
    process: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def running_server(args: list[str], env: dict[str, str] | None = None, wait_s: float = 300.0) -> Iterator[ServerProcess]:
    """Start `shelfcast serve --host 127.0.0.1 --port <free> *args`, yield once /health answers, stop it after.

    Output goes to a file, not a pipe: nobody reads a pipe while the server runs,
    and a full pipe buffer would block uvicorn's logging, and with it the server.
    """
    port = free_port()
    log = Path(tempfile.mkdtemp(prefix="shelfcast-serve-")) / "serve.log"
    command = [str(Path(sys.executable).with_name("shelfcast")), "serve", "--host", HOST, "--port", str(port), *args]
    with log.open("w") as sink:
        process = subprocess.Popen(command, env={**os.environ, **(env or {})}, stdout=sink, stderr=subprocess.STDOUT)
    server = ServerProcess(f"http://{HOST}:{port}", process, log)
    try:
        outcome = wait_ready(process, server.url, wait_s)
        if outcome == "died":
            raise RuntimeError(f"shelfcast serve exited with {process.returncode}:\n{server.output()[-3000:]}")
        if outcome == "timeout":
            raise RuntimeError(f"shelfcast serve did not answer within {wait_s:g} s:\n{server.output()[-3000:]}")
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
