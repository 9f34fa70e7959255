"""Real model servers for tests and benchmarks: ``transformers serve`` on 127.0.0.1 and a
free port, waited on by polling its health endpoint (bounded, never a fixed sleep), and a
scripted stub for the faults a real server cannot be made to produce (429 with
Retry-After, a 500, malformed JSON)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from .events import wait_for


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def save_for_serving(model: Any, tokenizer: Any, folder: Path) -> Path:
    """``model`` and ``tokenizer`` saved where a server can load them, sampling as the
    local engines do (the full softmax: no top-k). ``transformers serve`` takes
    ``do_sample`` and ``top_k`` from the folder's generation config, not from requests."""
    from transformers import GenerationConfig

    model.generation_config = GenerationConfig(
        do_sample=True, temperature=1.0, top_p=1.0, top_k=0,
        eos_token_id=model.config.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def save_tiny_model(folder: Path, seed: int = 0) -> Path:
    """The ``tiny-random`` policy's model and tokenizer (same weights for the same seed)."""
    from ..policy.tiny import build_model, build_tokenizer

    tokenizer = build_tokenizer()
    return save_for_serving(build_model(len(tokenizer), seed=seed), tokenizer, folder)


class TransformersServe:
    """``transformers serve MODEL`` in a child process; ``url`` is its API root (``/v1``)
    and ``model`` the name to ask for. ``threads`` caps its torch threads."""

    def __init__(self, model: str | Path, *, threads: int = 1, log: Path | None = None,
                 boot_timeout: float = 300.0) -> None:
        self.model = str(model)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.threads = threads
        self.log = log
        self.boot_timeout = boot_timeout
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> TransformersServe:
        env = {**os.environ, "OMP_NUM_THREADS": str(self.threads),
               "MKL_NUM_THREADS": str(self.threads), "TOKENIZERS_PARALLELISM": "false"}
        out = open(self.log, "wb") if self.log else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "transformers.cli.transformers", "serve", self.model,
             "--host", "127.0.0.1", "--port", str(self.port), "--device", "cpu",
             "--log-level", "warning"],
            stdout=out, stderr=subprocess.STDOUT, env=env)
        wait_for(self._healthy, f"transformers serve on port {self.port}",
                 timeout=self.boot_timeout)
        return self

    def _healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"transformers serve exited with {self.process.returncode}"
                               + (f"; see {self.log}" if self.log else ""))
        try:
            with urllib.request.urlopen(self.url.removesuffix("/v1") + "/health",
                                        timeout=2) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> TransformersServe:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


@dataclass
class Reply:
    """One scripted answer of the stub."""

    status: int = 200
    body: Any = None
    """A JSON-able value, or bytes sent as they are (malformed answers)."""
    headers: dict[str, str] = field(default_factory=dict)


def completion_reply(texts: Sequence[str], finish: str = "stop", prompt_tokens: int = 5,
                     completion_tokens: int = 3) -> Reply:
    """A well-formed /v1/completions answer."""
    return Reply(body={"choices": [{"index": i, "text": t, "finish_reason": finish}
                                   for i, t in enumerate(texts)],
                       "usage": {"prompt_tokens": prompt_tokens,
                                 "completion_tokens": completion_tokens}})


class StubServer:
    """Answers requests with ``replies`` in order (the last one repeats) and records what
    it received (path, headers, JSON body)."""

    def __init__(self, replies: Sequence[Reply]) -> None:
        self.replies = list(replies)
        self.received: list[tuple[str, dict[str, str], Any]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"null")
                stub.received.append((self.path, dict(self.headers), body))
                reply = stub.replies[min(len(stub.received), len(stub.replies)) - 1]
                data = reply.body if isinstance(reply.body, bytes) else json.dumps(
                    reply.body).encode()
                self.send_response(reply.status)
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> StubServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


def served_tiny(folder: Path) -> Iterator[TransformersServe]:
    """A fixture body: the tiny model saved to ``folder`` and served until the end."""
    with TransformersServe(save_tiny_model(folder)) as server:
        yield server
