"""The command line's model servers: ``--endpoint URL`` (with ``--api-key-env NAME`` and
``--endpoint-option KEY=VALUE``) samples from an OpenAI-compatible server, as the
``endpoint`` policy (inference-only presets) or, with ``--engine vllm-server``, as the
engine of a local model that trains.

A URL, a key variable and the options are connection settings: they come from the person
running, every time. A study's record holds none of them, so opening a study never connects
anywhere its author chose; it keeps only ``sampled_from`` and the model name (data)."""

from __future__ import annotations

import argparse
import typing
from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from ..errors import ConfigError

LOCAL_ONLY = ("device", "dtype", "lora", "engine", "options")
"""The policy's settings (``config.policy``) that only a model migrate-opt loads takes."""
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


def policy_of(config: Mapping[str, Any]) -> dict[str, Any]:
    """The config's ``policy`` table (a bare name is ``{"name": ...}``)."""
    policy = config.get("policy") or {}
    return {"name": policy} if isinstance(policy, str) else dict(policy)


def resume_model(record: dict[str, Any], args: argparse.Namespace, study: str
                 ) -> dict[str, Any]:
    """What ``resume`` samples with: the connection and ``--model`` from its command line
    (returned), the record's policy adjusted. A study that sampled from an endpoint resumes
    against one (``--endpoint``) or a local model (``--model``); neither is one line."""
    policy = policy_of(record["config"])
    if args.model is not None:
        policy["name"] = args.model
    if args.endpoint and args.engine != SERVER_ENGINE:
        policy = {k: v for k, v in policy.items() if k not in LOCAL_ONLY}
    if policy or "policy" in record["config"]:  # an LLM preset's record
        record["config"] = {**record["config"], "policy": policy}
    if record.get("sampled_from") == "endpoint" and not args.endpoint:
        if args.model is None:
            raise ConfigError(
                f"study {study!r} sampled from an endpoint (model {policy.get('name')!r}): "
                "resume with --endpoint URL (and --api-key-env NAME if it needs a key), or "
                "with --model NAME to go on with a local model")
        record.pop("sampled_from")
    return connection_of(args)


def endpoint_objects(connection: Mapping[str, Any], config: Mapping[str, Any]
                     ) -> dict[str, Any]:
    """Optimizer options for the connection: ``policy`` (the endpoint policy) or ``engine``
    (``vllm-server``); {} without an endpoint."""
    url = connection.get("endpoint")
    policy = policy_of(config)
    if not url:
        if policy.get("engine") == SERVER_ENGINE:
            raise ConfigError("--engine vllm-server needs the server: --endpoint URL")
        return {}
    pairs = connection.get("endpoint_options") or []
    if policy.get("engine") == SERVER_ENGINE:
        from ..engines.vllm_server import VLLMServerEngine
        from .settings import key_values

        options = key_values(pairs, VLLMServerEngine, "vllm-server")
        engine = VLLMServerEngine(url, api_key_env=connection.get("api_key_env"), **options)
        return {"engine": engine}
    local = [k for k in LOCAL_ONLY if policy.get(k) not in (None, {}, "")]
    if local:
        raise ConfigError(f"{', '.join('policy.' + k for k in local)} apply to a model "
                          "migrate-opt loads; an endpoint samples on its server (for training "
                          "on a vLLM server: --engine vllm-server)")
    if not policy.get("name"):
        raise ConfigError("--endpoint needs --model NAME: the model name the server serves "
                          "(GET URL/models lists them)")
    from ..factory import create_policy

    built = create_policy("endpoint", base_url=url, model=policy["name"],
                          api_key_env=connection.get("api_key_env"),
                          **_endpoint_options(pairs))
    return {"policy": built}


def _endpoint_options(pairs: list[str]) -> dict[str, Any]:
    """``["api=completions", "concurrency=8"]`` coerced by the fields' types."""
    from ..engines.openai_http import Connection
    from ..policy.endpoint import ENDPOINT_OPTIONS, EndpointConfig
    from .settings import _base_type, coerce

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
