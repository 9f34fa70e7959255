"""A small client for OpenAI-compatible HTTP servers (vLLM, llama.cpp, Ollama, transformers
serve, hosted APIs), standard library only.

It retries what a retry can fix (a refused or dropped connection, a timeout, 429 and 5xx)
with exponential backoff, honouring a server's ``Retry-After``, and turns everything else
into one :class:`~migrate_opt.errors.EndpointError` line that says what to fix. The API key
is read from the environment variable the caller names, sent only as a bearer header, and
never appears in a message, a log line or anything stored."""

from __future__ import annotations

import http.client
import json
import logging
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError, EndpointError

log = logging.getLogger(__name__)

RETRIED_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
"""Statuses worth another try: rate limits, overload, a restarting server."""


@dataclass(frozen=True)
class Connection:
    """Where and how to reach a server. Connection settings come from the person running
    (command line or Python), never from a study file: a study stores no URL and no key."""

    base_url: str
    """The API root, usually ending in ``/v1`` (``http://127.0.0.1:8000/v1``)."""
    api_key_env: str | None = None
    """Name of the environment variable holding the key; None sends no key."""
    timeout: float = 60.0
    """Seconds one request may take."""
    retries: int = 3
    """Further tries after a connection error, a timeout, 429 or 5xx."""
    backoff: float = 1.0
    """Seconds before the first retry; doubled for each further one."""
    max_backoff: float = 30.0
    """Longest wait between tries (a server's Retry-After is honoured up to this)."""

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ConfigError(f"the endpoint URL must start with http:// or https://, got "
                              f"{self.base_url!r}")
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))
        if self.api_key_env is not None and not self.api_key_env.strip():
            raise ConfigError("api_key_env names an environment variable; got an empty name")
        if self.timeout <= 0:
            raise ConfigError(f"timeout must be > 0 seconds, got {self.timeout}")
        if self.retries < 0:
            raise ConfigError(f"retries must be >= 0, got {self.retries}")
        if self.backoff < 0 or self.max_backoff < 0:
            raise ConfigError("backoff and max_backoff must be >= 0 seconds")


class OpenAIClient:
    """POSTs JSON to one server with retries. ``sleep`` is injectable so tests can record
    the waits instead of spending them."""

    def __init__(self, connection: Connection,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.connection = connection
        self.sleep = sleep
        self._headers = {"Content-Type": "application/json", "Accept": "application/json"}
        name = connection.api_key_env
        if name is not None:
            key = os.environ.get(name)
            if not key:
                raise EndpointError(f"the environment variable {name} holding the API key is "
                                    "not set: export it, or give no api_key_env for a server "
                                    "that needs no key")
            self._headers["Authorization"] = f"Bearer {key}"

    def __repr__(self) -> str:  # never shows the key
        return f"OpenAIClient({self.connection.base_url!r})"

    def post(self, path: str, body: Mapping[str, Any]) -> Any:
        """The decoded JSON answer to ``body`` POSTed at ``path`` (``/completions``)."""
        return self._request("POST", path, json.dumps(body).encode())

    def get(self, path: str) -> Any:
        return self._request("GET", path, None)

    def _request(self, method: str, path: str, data: bytes | None) -> Any:
        url = self.connection.base_url + path
        tries = self.connection.retries + 1
        for attempt in range(tries):
            wait, why = self._try(method, url, data)
            if why is None:
                return wait  # the decoded answer
            if attempt == tries - 1:
                raise EndpointError(f"{why} (tried {tries} time{'s' * (tries > 1)}); stored "
                                    "work is kept: fix it and resume")
            delay = min(self.connection.max_backoff, wait if wait is not None
                        else self.connection.backoff * 2**attempt)
            log.warning("%s; retrying in %.1f s", why, delay)
            self.sleep(delay)
        raise AssertionError("unreachable")

    def _try(self, method: str, url: str, data: bytes | None) -> tuple[Any, str | None]:
        """(answer, None) on success; (Retry-After seconds or None, reason) when worth a
        retry; raises EndpointError when it is not."""
        request = urllib.request.Request(url, data=data, method=method, headers=self._headers)
        try:
            with urllib.request.urlopen(request, timeout=self.connection.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            detail = _detail(exc)
            if exc.code in RETRIED_STATUS:
                return _retry_after(exc.headers), f"the server at {url} answered {exc.code}" + (
                    f": {detail}" if detail else "")
            raise EndpointError(_refusal(url, exc.code, detail, self.connection)) from None
        except (urllib.error.URLError, ConnectionError, TimeoutError,
                http.client.HTTPException) as exc:  # refused, dropped, cut short, timed out
            reason = getattr(exc, "reason", exc)
            return None, f"cannot reach {url} ({reason}): is the server running there?"
        try:
            return json.loads(raw), None
        except ValueError:
            raise EndpointError(f"the server at {url} answered with something other than JSON "
                                f"({raw[:60]!r}): is the URL an OpenAI-compatible API root "
                                "(usually ending in /v1)?") from None


def _retry_after(headers: Any) -> float | None:
    """Seconds from a ``Retry-After`` header (HTTP dates are rare from APIs: ignored)."""
    value = headers.get("Retry-After") if headers is not None else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _detail(exc: urllib.error.HTTPError) -> str:
    """The server's own explanation, from the usual JSON error shapes, on one short line."""
    try:
        body = exc.read()
        data = json.loads(body)
    except Exception:
        return ""
    if isinstance(data, Mapping):
        inner = data.get("error", data.get("detail", data.get("message", "")))
        if isinstance(inner, Mapping):
            inner = inner.get("message", "")
        return " ".join(str(inner).split())[:200]
    return ""


def _refusal(url: str, code: int, detail: str, connection: Connection) -> str:
    said = f" ({detail})" if detail else ""
    if code in (401, 403):
        key = (f"the key in {connection.api_key_env}" if connection.api_key_env
               else "no key (give api_key_env, the variable that holds one)")
        return f"the server at {url} refused {key}: {code}{said}"
    if code == 404:
        return (f"{url} does not exist (404){said}: is the base URL the API root (usually "
                "ending in /v1), and the model name one the server serves?")
    return f"the server at {url} refused the request ({code}){said}: check the model name " \
           "and options"


def usage_of(answer: Mapping[str, Any]) -> dict[str, int]:
    """Prompt and completion tokens of one answer (zeros when the server reports none)."""
    usage = answer.get("usage") or {}
    return {"prompt_tokens": int(usage.get("prompt_tokens") or 0),
            "completion_tokens": int(usage.get("completion_tokens") or 0)}


def choices_of(answer: Any, url: str) -> list[Mapping[str, Any]]:
    """The ``choices`` of an answer, or one line saying the answer is not a completion."""
    choices = answer.get("choices") if isinstance(answer, Mapping) else None
    if not isinstance(choices, list) or not all(isinstance(c, Mapping) for c in choices):
        raise EndpointError(f"the server at {url} answered JSON without a list of choices: "
                            "is it an OpenAI-compatible completions API?")
    return choices
