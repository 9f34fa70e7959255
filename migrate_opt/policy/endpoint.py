"""The ``endpoint`` policy: any model behind an OpenAI-compatible server (vLLM, llama.cpp,
Ollama, transformers serve, a hosted API), with no local model at all.

It is a *policy*, not an engine: an engine samples for a local torch model that trains,
and here there is no local model, no tokenizer and no adapter, only text in and text out.
So it is inference-only (``sample``, ``ns``, ``opro``, MiGrATe with ``train=false``); a
training preset refuses it in one line. Training with a server that samples is the
``vllm-server`` engine's job (the trainer stays local, the server takes the adapter).

Identical prompts go out as one request with ``n`` samples; a server that returns fewer
(transformers serve, Ollama) is asked again with the next seed until the count is met.
A completion cut at the token limit (``finish_reason`` "length") is marked truncated and
counted as unparsed. What is stored with a study: the model name, the API flavour and the
prices (data), never the URL or the key (connection)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from typing import Any, Literal

from ..engines.openai_http import Connection, OpenAIClient, choices_of, usage_of
from ..errors import ConfigError, EndpointError
from ..task.prompt_spec import PromptSpec
from ..usage import request_usage
from .base import Generation, Policy, SamplingConfig, check_request

log = logging.getLogger(__name__)

APIS = ("chat", "completions")
MAX_STOPS = 4
"""OpenAI accepts at most four stop strings; further ones are applied here."""


@dataclass(frozen=True)
class EndpointConfig:
    """What to ask the server for. Connection settings (URL, key variable, timeout,
    retries) are in :class:`~migrate_opt.engines.openai_http.Connection`."""

    model: str
    """The model name the server serves (``/v1/models`` lists them)."""
    api: Literal["chat", "completions"] = "chat"
    """``chat`` sends system and user messages (the server applies the chat template);
    ``completions`` sends the plain text ``system\\n\\nprompt`` + response prefix."""
    concurrency: int = 4
    """Requests in flight at once."""
    max_n: int = 16
    """Samples asked for in one request at most (some servers cap ``n``)."""
    price_prompt: float | None = None
    """Price per million prompt tokens; with ``price_completion`` it turns usage into cost."""
    price_completion: float | None = None
    """Price per million completion tokens."""

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model.strip():
            raise ConfigError("an endpoint needs the model name the server serves (--model)")
        if self.api not in APIS:
            raise ConfigError(f"api must be one of {', '.join(APIS)}, got {self.api!r}")
        if self.concurrency < 1 or self.max_n < 1:
            raise ConfigError("concurrency and max_n must be >= 1")
        prices = (self.price_prompt, self.price_completion)
        if any(p is not None and p < 0 for p in prices):
            raise ConfigError("prices per million tokens must be >= 0")

    @property
    def prices(self) -> tuple[float, float] | None:
        if self.price_prompt is None and self.price_completion is None:
            return None
        return (self.price_prompt or 0.0, self.price_completion or 0.0)


ENDPOINT_OPTIONS = tuple(f.name for f in fields(EndpointConfig) if f.name != "model") + tuple(
    f.name for f in fields(Connection) if f.name not in ("base_url", "api_key_env"))
"""Options the command line's ``--endpoint-option KEY=VALUE`` takes."""


@dataclass(frozen=True)
class _Request:
    """Samples ``start`` .. ``start + count`` of one distinct prompt: one request with ``n``
    (more when the server returns fewer), sample ``i`` seeded ``seed + i``."""

    payload: Mapping[str, Any]
    start: int
    count: int
    seed: int


class EndpointPolicy(Policy):
    """Samples from a model on an OpenAI-compatible server; nothing to train."""

    trainable = False
    untrainable = ("an endpoint policy only samples: the server takes no adapter. Use an "
                   "inference-only preset (sample, ns, opro) or train=false, or keep the model "
                   "local and sample on a vLLM server with --engine vllm-server")

    def __init__(self, connection: Connection, config: EndpointConfig,
                 client: OpenAIClient | None = None) -> None:
        self.connection = connection
        self.config = config
        self.client = client or OpenAIClient(connection)

    def generate(
        self,
        prompts: Sequence[str],
        spec: PromptSpec | None = None,
        *,
        sampling: SamplingConfig = SamplingConfig(),
        seed: int = 0,
    ) -> list[Generation]:
        # A server's own grammar options differ from llguidance's: spec.grammar is not sent.
        spec = check_request(prompts, spec, sampling)
        if not prompts:
            return []
        order = list(dict.fromkeys(prompts))
        requests = []
        for i, p in enumerate(order):
            payload = self._payload(p, spec, sampling)
            count, step = prompts.count(p), self.config.max_n
            requests += [_Request(payload, start, min(step, count - start),
                                  (seed + 100_003 * i) % 2**31)
                         for start in range(0, count, step)]
        workers = min(self.config.concurrency, len(requests))
        prefix, stop = spec.response_prefix, spec.stop
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(lambda r: self._sample(r, prefix, stop), requests))
        by_prompt: dict[str, list[Generation]] = {}
        for request, generations in zip(requests, results):
            by_prompt.setdefault(request.payload["_prompt"], []).extend(generations)
        queues = {p: iter(g) for p, g in by_prompt.items()}
        return [next(queues[p]) for p in prompts]

    def _payload(self, prompt: str, spec: PromptSpec, sampling: SamplingConfig
                 ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "_prompt": prompt, "model": self.config.model, "max_tokens": spec.max_new_tokens,
            "temperature": sampling.temperature, "top_p": sampling.top_p,
        }
        if spec.stop:
            body["stop"] = list(spec.stop)[:MAX_STOPS]
        system, prefix = spec.system, spec.response_prefix
        if self.config.api == "chat":
            messages = [{"role": "user", "content": prompt}]
            if system:
                messages.insert(0, {"role": "system", "content": system})
            body["messages"] = messages
        else:
            body["prompt"] = (f"{system}\n\n{prompt}" if system else prompt) + prefix
        return body

    def _sample(self, request: _Request, prefix: str, stop: Sequence[str]) -> list[Generation]:
        """``request.count`` generations, asking again (the next sample's seed) when a
        server returns fewer choices than ``n``; a server that returns none is an error."""
        path = "/chat/completions" if self.config.api == "chat" else "/completions"
        body = {k: v for k, v in request.payload.items() if k != "_prompt"}
        out: list[Generation] = []
        while len(out) < request.count:
            n = request.count - len(out)
            seed = (request.seed + request.start + len(out)) % 2**31
            answer = self.client.post(path, {**body, "n": n, "seed": seed})
            choices = choices_of(answer, self.connection.base_url + path)[:n]
            if not choices:
                raise EndpointError(f"the server at {self.connection.base_url} returned no "
                                    "completion: check the model name and the server's log")
            prices = self.config.prices
            usage = request_usage(**usage_of(answer), prices=prices)
            for i, choice in enumerate(choices):
                share = usage if i == 0 else request_usage(0, 0, prices)  # sum stays exact
                out.append(self._generation(choice, prefix, stop, share))
        return out

    def _generation(self, choice: Mapping[str, Any], prefix: str, stop: Sequence[str],
                    usage: dict[str, Any]) -> Generation:
        if self.config.api == "chat":
            text = (choice.get("message") or {}).get("content") or ""
            # A chat model answers whole: the prefix is added only when it did not write it.
            text = text if prefix and text.lstrip().startswith(prefix) else prefix + text
        else:
            text = prefix + (choice.get("text") or "")
        cut = [text.find(s) for s in stop[MAX_STOPS:] if s in text]
        if cut:
            text = text[: min(cut)]
        return Generation(text, truncated=choice.get("finish_reason") == "length" and not cut,
                          usage=usage)

    def describe(self) -> dict[str, Any]:
        """Data only: no URL, no key variable (they are the runner's, not the study's)."""
        return {"policy": "endpoint", "model": self.config.model, "api": self.config.api,
                "price_prompt": self.config.price_prompt,
                "price_completion": self.config.price_completion}


def endpoint_policy(base_url: str, model: str, api_key_env: str | None = None,
                    **options: Any) -> EndpointPolicy:
    """The registered ``endpoint`` factory: ``options`` are :class:`EndpointConfig`'s and
    :class:`Connection`'s (timeout, retries, backoff, max_backoff)."""
    unknown = sorted(set(options) - set(ENDPOINT_OPTIONS))
    if unknown:
        raise ConfigError(f"unknown endpoint option(s) {', '.join(unknown)}; known: "
                          f"{', '.join(ENDPOINT_OPTIONS)}")
    conn_keys = {f.name for f in fields(Connection)}
    connection = Connection(base_url, api_key_env,
                            **{k: v for k, v in options.items() if k in conn_keys})
    config = EndpointConfig(model, **{k: v for k, v in options.items() if k not in conn_keys})
    return EndpointPolicy(connection, config)
