"""The endpoint policy against a real server (``transformers serve`` with the tiny model,
on 127.0.0.1), and a scripted stub only for the faults a real server cannot produce."""

import json
import sqlite3
from types import SimpleNamespace

import pytest

from migrate_opt import PromptSpec, SQLiteDatabase, create, run
from migrate_opt.cli import main
from migrate_opt.engines.openai_http import Connection, OpenAIClient
from migrate_opt.engines.vllm_server import sampled_of
from migrate_opt.errors import ConfigError, EndpointError
from migrate_opt.migrate.optimizer import TRUNCATED
from migrate_opt.policy.endpoint import EndpointConfig, EndpointPolicy, endpoint_policy
from migrate_opt.testing.servers import (
    Reply,
    StubServer,
    TransformersServe,
    completion_reply,
    free_port,
    save_tiny_model,
)
from migrate_opt.testing.toy import DigitShareTask, ToyTask
from migrate_opt.usage import Usage, study_usage

pytest.importorskip("fastapi", reason="transformers serve needs the endpoint extra")


class WordTask(DigitShareTask):
    """Any text up to the first space is a solution: the tiny model's gibberish stops
    early (a stop string) instead of running into max_new_tokens."""

    stop = (" ",)


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def server(tiny_folder):
    with TransformersServe(tiny_folder) as s:
        yield s


def policy_for(server, **options):
    return endpoint_policy(server.url, server.model, **{"retries": 0, **options})


@pytest.fixture
def cli(capsys):
    """``migrate-opt ARGS`` in this process: its exit code and what it printed."""
    def call(*args):
        code = main(list(args))
        out = capsys.readouterr()
        return SimpleNamespace(returncode=code, stdout=out.out, stderr=out.err)

    return call


def one_line(out):
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    lines = [line for line in out.stderr.strip().splitlines() if "error" in line]
    assert len(lines) == 1, out.stderr
    return lines[0]


# -- the same run through the server and through the local engine --------------------------
@pytest.mark.parametrize("preset", ["sample", "migrate"])
def test_endpoint_and_local_engine_give_runs_of_the_same_shape(server, preset):
    shapes = []
    for policy in (policy_for(server, max_n=2), "tiny-random"):
        db = SQLiteDatabase(":memory:", "s")
        opt = create("optimizer", preset, WordTask(), policy=policy, group_size=4,
                     train=False, database=db, seed=3)
        result = run(opt, iterations=2, progress=False)
        groups = db.groups()
        members = [m for _, ms in groups for m in ms]
        generated = [m for m in members if m["prompt"] is not None]
        assert generated and all(m["usage"] is not None for m in generated)
        assert result.usage.prompt_tokens > 0 and result.usage.completion_tokens > 0
        assert result.usage == study_usage(groups)
        parsed = [m for m in generated if m["solutions"]]
        assert parsed, "no completion was parsed"
        assert all(m["error"] == TRUNCATED for m in generated if not m["solutions"])
        shapes.append((len(groups), [len(ms) for _, ms in groups], len(db) > 0))
    assert shapes[0] == shapes[1]


def test_the_progress_bar_counts_tokens_and_cost(server, capsys):
    opt = create("optimizer", "sample", WordTask(), group_size=2, database=SQLiteDatabase(
        ":memory:", "s"), policy=policy_for(server, price_prompt=1, price_completion=1))
    result = run(opt, iterations=1, progress=True)
    err = capsys.readouterr().err
    assert f"tok={result.usage.tokens:,}" in err and f"cost={result.usage.cost:.4f}" in err


def test_same_seed_same_completions_through_the_server(server):
    first, second = (policy_for(server).generate(["Write digits."] * 3, PromptSpec(
        max_new_tokens=6), seed=5) for _ in range(2))
    assert [g.text for g in first] == [g.text for g in second]
    assert len({g.text for g in first}) > 1  # each sample its own seed, not one repeated


def test_a_completion_cut_at_max_tokens_is_not_parsed(server):
    # The toy task has no stop string and the tiny model rarely ends: 3 tokens are cut.
    db = SQLiteDatabase(":memory:", "s")
    opt = create("optimizer", "sample", ToyTask(), policy=policy_for(server), group_size=3,
                 database=db, sampling={"max_new_tokens": 3})
    group = opt.ask()
    assert all(m.error == TRUNCATED and not m.solutions for m in group.members)
    assert all(m.usage and m.usage["completion_tokens"] == 3 for m in group.members)


# -- bad input against the real server ------------------------------------------------------
def test_a_wrong_model_name_is_one_line(server):
    policy = endpoint_policy(server.url, "no-such-model", retries=0)
    with pytest.raises(EndpointError, match="refused the request \\(400\\).*model name") as e:
        policy.generate(["hi"])
    assert "\n" not in str(e.value)


def test_a_base_url_without_the_api_root_is_one_line(server):
    policy = endpoint_policy(server.url.removesuffix("/v1"), server.model, retries=0)
    with pytest.raises(EndpointError, match="404.*usually ending in /v1"):
        policy.generate(["hi"])


def test_nobody_listening_is_retried_with_backoff_then_one_line():
    waits = []
    url = f"http://127.0.0.1:{free_port()}/v1"
    client = OpenAIClient(Connection(url, retries=2, backoff=0.5), sleep=waits.append)
    policy = EndpointPolicy(client.connection, EndpointConfig("m"), client)
    with pytest.raises(EndpointError, match="cannot reach .*tried 3 times.*resume"):
        policy.generate(["hi"])
    assert waits == [0.5, 1.0]


def test_a_training_preset_refuses_an_endpoint_in_one_line(server, cli):
    with pytest.raises(ConfigError, match="'migrate' trains the policy, and an endpoint "
                       "policy only samples"):
        create("optimizer", "migrate", ToyTask(), policy=policy_for(server))
    out = cli("run", "toy", "--method", "grpo", "--endpoint", server.url, "--model",
              server.model, "--storage", "memory://", "--no-progress")
    assert "only samples" in one_line(out)


def test_a_server_that_is_down_is_one_line_on_the_command_line(cli):
    out = cli("run", "toy", "--method", "ns", "--endpoint", f"http://127.0.0.1:{free_port()}/v1",
              "--model", "m", "--endpoint-option", "retries=0", "--storage", "memory://",
              "--no-progress")
    assert "cannot reach" in one_line(out) and "resume" in out.stderr


def _groups(path):
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as c:
            return c.execute("SELECT COUNT(*) FROM groups").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def _records(path):
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as c:
        return c.execute("SELECT solution, score FROM records ORDER BY seq").fetchall()


def test_show_and_report_count_tokens_and_cost(tmp_path, server, cli):
    storage = str(tmp_path / "s.db")
    out = cli("run", "toy", "--method", "sample", "--endpoint", server.url, "--model",
              server.model, "--storage", storage, "--iterations", "2", "--group-size", "2",
              "--endpoint-option", "price_prompt=2", "--endpoint-option",
              "price_completion=10", "--max-new-tokens", "4", "--no-progress")
    assert out.returncode == 0, out.stderr
    shown = json.loads(cli("show", storage, "--json").stdout)
    usage = shown["usage"]
    assert usage["prompt_tokens"] > 0 and 0 < usage["completion_tokens"] <= 2 * 2 * 4
    assert usage["cost"] == pytest.approx(
        (usage["prompt_tokens"] * 2 + usage["completion_tokens"] * 10) / 1e6)
    assert shown["settings"]["config"]["policy"]["name"] == server.model
    assert f"completion {usage['completion_tokens']}" in cli("show", storage).stdout
    assert main(["report", storage, "-o", str(tmp_path / "r.html")]) == 0
    assert f"completion {usage['completion_tokens']} tokens" in (tmp_path / "r.html").read_text()


@pytest.mark.slow  # a second server: a minute to boot on a busy machine
def test_server_stopped_mid_run_then_resumed_elsewhere_with_records_intact(
        tmp_path, tiny_folder, server):
    storage = str(tmp_path / "s.db")

    def optimizer(policy):
        db = SQLiteDatabase(storage, "s")
        return db, create("optimizer", "ns", WordTask(), policy=policy, group_size=2,
                          database=db, seed=1)

    with TransformersServe(tiny_folder) as doomed:
        db, opt = optimizer(policy_for(doomed))
        with pytest.raises(EndpointError, match="cannot reach") as e:
            run(opt, iterations=5, progress=False, callbacks=[lambda *a: doomed.stop()])
        db.close()
    assert "\n" not in str(e.value)
    assert _groups(storage) == 1  # the group told before the stop; nothing half-stored
    records = _records(storage)
    assert records
    assert doomed.url.encode() not in (tmp_path / "s.db").read_bytes()

    # Resumed against another endpoint, then against the local engine: records intact.
    for policy in (policy_for(server), "tiny-random"):
        db, opt = optimizer(policy)
        run(opt, iterations=1, progress=False)
        db.close()
        assert _records(storage)[: len(records)] == records
    assert _groups(storage) == 3


def test_usage_from_a_crafted_study_counts_nothing_it_cannot_read():
    groups = [(0, [{"usage": "lots"}, {"usage": {"prompt_tokens": "9", "cost": float("nan")}},
                   {"usage": {"prompt_tokens": 3, "completion_tokens": True, "cost": 1e300}},
                   "not a member", {"usage": {"prompt_tokens": 2, "completion_tokens": 5}}])]
    assert study_usage(groups) == Usage(5, 5, None)


# -- faults only a stub can produce ---------------------------------------------------------
def stub_policy(stub, sleep, **connection):
    conn = Connection(stub.url, **{"retries": 3, **connection})
    client = OpenAIClient(conn, sleep=sleep)
    return EndpointPolicy(conn, EndpointConfig("m", api="completions"), client)


def test_429_waits_as_long_as_retry_after_says():
    waits = []
    with StubServer([Reply(429, {"error": {"message": "slow down"}}, {"Retry-After": "7"}),
                     completion_reply(["1234"])]) as stub:
        out = stub_policy(stub, waits.append).generate(["p"])
    assert waits == [7.0] and out[0].text == "1234" and len(stub.received) == 2


def test_500_is_retried_with_exponential_backoff_then_one_line():
    waits = []
    with StubServer([Reply(500, {"detail": "boom"})]) as stub:
        with pytest.raises(EndpointError, match="answered 500: boom.*tried 3 times"):
            stub_policy(stub, waits.append, retries=2, backoff=0.25).generate(["p"])
    assert waits == [0.25, 0.5]


def test_malformed_json_is_one_line():
    with StubServer([Reply(200, b"<html>not an API</html>")]) as stub:
        with pytest.raises(EndpointError, match="something other than JSON.*/v1"):
            stub_policy(stub, lambda s: None).generate(["p"])
    with StubServer([Reply(200, {"id": "x"})]) as stub:
        with pytest.raises(EndpointError, match="without a list of choices"):
            stub_policy(stub, lambda s: None).generate(["p"])


def test_the_key_comes_from_the_named_variable_and_is_never_shown(monkeypatch):
    monkeypatch.delenv("MO_TEST_KEY", raising=False)
    with pytest.raises(EndpointError, match="MO_TEST_KEY .* not set"):
        endpoint_policy("http://127.0.0.1:9/v1", "m", api_key_env="MO_TEST_KEY")
    monkeypatch.setenv("MO_TEST_KEY", "sk-secret-123")
    with StubServer([completion_reply(["1"]), Reply(401, {"error": "bad key"})]) as stub:
        policy = endpoint_policy(stub.url, "m", api_key_env="MO_TEST_KEY", api="completions")
        policy.generate(["p"])
        with pytest.raises(EndpointError) as e:
            policy.generate(["p"])
    assert stub.received[0][1]["Authorization"] == "Bearer sk-secret-123"
    assert "MO_TEST_KEY" in str(e.value) and "sk-secret" not in str(e.value)
    assert "sk-secret" not in repr(policy.client) + json.dumps(policy.describe())


def test_n_samples_per_request_usage_once_per_request_and_cost():
    replies = [completion_reply(["a", "b"], prompt_tokens=10, completion_tokens=6),
               completion_reply(["c"], prompt_tokens=10, completion_tokens=3)]
    with StubServer(replies) as stub:
        policy = endpoint_policy(stub.url, "m", api="completions", price_prompt=1.0,
                                 price_completion=2.0, concurrency=1)
        out = policy.generate(["p"] * 3, PromptSpec(stop=("x",)), seed=4)
    assert [g.text for g in out] == ["a", "b", "c"]
    # Asked for 3, got 2: the third is asked for alone, seeded as the third sample.
    assert [(b["n"], b["seed"]) for _, _, b in stub.received] == [(3, 4), (1, 6)]
    assert stub.received[0][2]["stop"] == ["x"]
    assert sum(g.usage["prompt_tokens"] for g in out) == 20
    assert sum(g.usage["cost"] for g in out) == pytest.approx((20 * 1 + 9 * 2) / 1e6)


def test_a_crafted_study_cannot_make_resume_connect(tmp_path, cli):
    storage = str(tmp_path / "s.db")
    assert main(["run", "toy", "--method", "sample", "--model", "tiny-random", "--storage",
                 storage, "--iterations", "1", "--group-size", "2", "--no-progress"]) == 0
    with StubServer([completion_reply(["1234"])]) as stub:
        with sqlite3.connect(storage) as c:
            (raw,) = c.execute("SELECT settings FROM studies").fetchone()
            settings = json.loads(raw)
            settings.update(endpoint=stub.url, api_key_env="HOME",
                            endpoint_options=["retries=9"], sampled_from="endpoint")
            c.execute("UPDATE studies SET settings=?", (json.dumps(settings),))
        assert "--endpoint URL" in one_line(cli("resume", storage))
        assert main(["resume", storage, "--model", "tiny-random", "--no-progress"]) == 0
    assert stub.received == []


def test_endpoint_flags_that_need_a_local_model_are_one_line(cli):
    out = cli("run", "toy", "--method", "ns", "--endpoint", "http://127.0.0.1:9/v1",
              "--model", "m", "--device", "cpu", "--storage", "memory://")
    assert "policy.device apply to a model migrate-opt loads" in one_line(out)
    out = cli("run", "toy", "--method", "ns", "--engine", "vllm-server",
              "--storage", "memory://")
    assert "needs the server: --endpoint URL" in one_line(out)
    out = cli("run", "toy", "--method", "ns", "--endpoint", "ftp://x", "--model", "m",
              "--storage", "memory://")
    assert "must start with http://" in one_line(out)


def test_vllm_server_engine_loads_each_new_adapter_under_a_new_name(tmp_path):
    """The requests the engine sends (a protocol check: no vLLM here; the real round trip
    is benchmarks/gpu_check.py's on a CUDA machine)."""
    torch = pytest.importorskip("torch")
    from migrate_opt.engines.vllm_server import VLLMServerEngine
    from migrate_opt.policy.tiny import tiny_policy

    sampled = {"choices": [{"index": i, "text": "", "finish_reason": "stop", "logprobs": {
        "tokens": ["token_id:7", "token_id:1"], "token_logprobs": [-1.5, -0.25]}}
        for i in range(2)]}
    ok = Reply(200, {})
    with StubServer([ok, Reply(body=sampled), ok, ok, Reply(body=sampled)]) as stub:
        engine = VLLMServerEngine(stub.url, adapter_dir=str(tmp_path))
        policy = tiny_policy(engine=engine)
        first = policy.generate(["p", "p"], PromptSpec(max_new_tokens=4))
        with torch.no_grad():
            for param in policy.trainable_parameters():
                param.add_(0.1)  # what a GRPO step does to the adapter
        policy.generate(["p", "p"], PromptSpec(max_new_tokens=4))
    paths = [path for path, _, _ in stub.received]
    assert paths == ["/v1/load_lora_adapter", "/v1/completions", "/v1/load_lora_adapter",
                     "/v1/unload_lora_adapter", "/v1/completions"]
    bodies = [body for _, _, body in stub.received]
    assert bodies[0]["lora_name"] == "migrate-opt-v1" and bodies[3]["lora_name"] == (
        "migrate-opt-v1") and bodies[4]["model"] == bodies[2]["lora_name"] == "migrate-opt-v2"
    assert (tmp_path / "migrate-opt-v2" / "adapter_config.json").is_file()
    request = bodies[1]
    assert request["n"] == 2 and request["logprobs"] == 0 and request[
        "return_tokens_as_token_ids"] and all(isinstance(t, int) for t in request["prompt"])
    assert [g.token_ids for g in first] == [(7, 1)] * 2 and first[0].logprobs == (-1.5, -0.25)


def test_vllm_token_ids_and_logprobs_are_read_from_a_completion_choice():
    choice = {"index": 0, "text": "ab", "logprobs": {
        "tokens": ["token_id:17", "token_id:2"], "token_logprobs": [-0.5, -1.25]}}
    sampled = sampled_of(choice)
    assert sampled.token_ids == [17, 2] and sampled.logprobs == [-0.5, -1.25]
    with pytest.raises(EndpointError, match="return_tokens_as_token_ids"):
        sampled_of({"logprobs": {"tokens": ["ab"], "token_logprobs": [-1.0]}})


# Last in this module: it stops the module's server.
def test_the_server_stopped_mid_run_loses_nothing_and_the_run_resumes_locally(tmp_path, server):
    storage = str(tmp_path / "s.db")
    db = SQLiteDatabase(storage, "s")
    opt = create("optimizer", "ns", WordTask(), policy=policy_for(server), group_size=2,
                 database=db, seed=1)
    with pytest.raises(EndpointError, match="cannot reach") as e:
        run(opt, iterations=5, progress=False, callbacks=[lambda *a: server.stop()])
    db.close()
    assert "\n" not in str(e.value)
    assert _groups(storage) == 1  # the group told before the stop; nothing half-stored
    records = _records(storage)
    db = SQLiteDatabase(storage, "s")
    opt = create("optimizer", "ns", WordTask(), policy="tiny-random", group_size=2,
                 database=db, seed=1)
    run(opt, iterations=1, progress=False)
    db.close()
    assert _groups(storage) == 2 and _records(storage)[: len(records)] == records
