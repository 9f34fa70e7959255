"""The command line's model servers: ``--endpoint URL`` (with ``--api-key-env NAME`` and
``--endpoint-option KEY=VALUE``) samples from an OpenAI-compatible server, as the
``endpoint`` policy (inference-only presets) or, with ``--engine vllm-server``, as the
engine of a local model that trains.

A URL, a key variable and the options are connection settings: they come from the person
running, every time. A study stores none of them and ``resume`` takes none back (they are
not study settings: ``migrate_opt.cli_study``), so opening a study never connects anywhere
its author chose; the study keeps only ``sampled_from`` and the model name (data)."""

from __future__ import annotations

import argparse
import typing
from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from .errors import ConfigError

LOCAL_ONLY = ("device", "dtype", "lora", "lora_rank", "lora_alpha", "lora_targets", "engine")
"""Settings of a model migrate-opt loads itself."""
SERVER_ENGINE = "vllm-server"


def add_flags(group: Any) -> None:
    """``--endpoint``, ``--api-key-env``, ``--endpoint-option`` (run and resume)."""
    group.add_argument("--endpoint", metavar="URL", help="sample from an OpenAI-compatible "
                       "server at URL (e.g. http://127.0.0.1:8000/v1); --model is the name it "
                       "serves. Never stored: give it again on resume")
    group.add_argument("--api-key-env", metavar="NAME", help="environment variable holding "
                       "the endpoint's API key (the key itself is never stored or printed)")
    group.add_argument("--endpoint-option", action="append", metavar="KEY=VALUE",
                       help="api=chat|completions, concurrency, max_n, timeout, retries, "
                       "backoff, max_backoff, price_prompt, price_completion (per million "
                       "tokens) (repeatable)")


def connection_of(args: argparse.Namespace) -> dict[str, Any]:
    """The connection settings the flags give (only those given)."""
    out = {"endpoint": args.endpoint, "api_key_env": args.api_key_env,
           "endpoint_options": list(args.endpoint_option or []) or None}
    return {k: v for k, v in out.items() if v is not None}


def with_source(config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` marked with whether the samples come from an endpoint policy (data: it
    tells ``resume`` what it needs); the connection itself is never stored."""
    out = dict(config)
    if config.get("endpoint") and config.get("engine") != SERVER_ENGINE:
        out["sampled_from"] = "endpoint"
    else:
        out.pop("sampled_from", None)
    return out


def resume_model(config: dict[str, Any], args: argparse.Namespace, study: str) -> None:
    """What ``resume`` samples with: the connection and ``--model`` from its command line.
    A study that sampled from an endpoint resumes against one (``--endpoint``) or a local
    model (``--model``); neither given is one line saying so."""
    config.update(connection_of(args))
    if args.model is not None:
        config["model"] = args.model
    if args.endpoint and args.engine != SERVER_ENGINE:
        for key in LOCAL_ONLY:  # the stored local model's settings: no use to an endpoint
            config.pop(key, None)
    if config.get("sampled_from") != "endpoint" or config.get("endpoint"):
        return
    if args.model is None:
        raise ConfigError(
            f"study {study!r} sampled from an endpoint (model {config.get('model')!r}): resume "
            "with --endpoint URL (and --api-key-env NAME if it needs a key), or with --model "
            "NAME to go on with a local model")
    config.pop("sampled_from")


def endpoint_objects(config: Mapping[str, Any]) -> dict[str, Any]:
    """Optimizer options for the connection: ``policy`` (the endpoint policy) or ``engine``
    (``vllm-server``); {} without an endpoint."""
    url = config.get("endpoint")
    if not url:
        if config.get("engine") == SERVER_ENGINE:
            raise ConfigError("--engine vllm-server needs the server: --endpoint URL")
        return {}
    pairs = config.get("endpoint_options") or []
    if config.get("engine") == SERVER_ENGINE:
        from .cli_config import key_values
        from .engines.vllm_server import VLLMServerEngine

        options = key_values(pairs, VLLMServerEngine, "vllm-server")
        engine = VLLMServerEngine(url, api_key_env=config.get("api_key_env"), **options)
        return {"engine": engine}
    local = [k for k in LOCAL_ONLY if config.get(k) not in (None, {}, "")]
    if local:
        raise ConfigError(f"{', '.join('--' + k.replace('_', '-') for k in local)} apply to a "
                          "model migrate-opt loads; an endpoint samples on its server (for "
                          "training on a vLLM server: --engine vllm-server)")
    if not config.get("model"):
        raise ConfigError("--endpoint needs --model NAME: the model name the server serves "
                          "(GET URL/models lists them)")
    from .registry import create

    options = _endpoint_options(pairs)
    policy = create("policy", "endpoint", base_url=url, model=config["model"],
                    api_key_env=config.get("api_key_env"), **options)
    return {"policy": policy}


def _endpoint_options(pairs: list[str]) -> dict[str, Any]:
    """``["api=completions", "concurrency=8"]`` coerced by the fields' types."""
    from .cli_config import _base_type, coerce
    from .engines.openai_http import Connection
    from .policy.endpoint import ENDPOINT_OPTIONS, EndpointConfig

    kinds = {**typing.get_type_hints(Connection), **typing.get_type_hints(EndpointConfig)}
    known = {f.name for cls in (Connection, EndpointConfig) for f in fields(cls)}
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in known or key not in ENDPOINT_OPTIONS:
            raise ConfigError(f"--endpoint-option {pair!r} must be KEY=VALUE with KEY one of "
                              f"{', '.join(ENDPOINT_OPTIONS)}")
        out[key] = coerce(value.strip(), _base_type(kinds[key]), key)
    return out
