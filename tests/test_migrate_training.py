"""MiGrATe end to end with the tiny random policy: learning, adapter-only updates, resume."""

import statistics

import pytest

torch = pytest.importorskip("torch")

from migrate_opt import (  # noqa: E402
    SQLiteDatabase,
    create,
    load_policy,  # noqa: E402
    run,
)
from migrate_opt.grpo import GRPOConfig  # noqa: E402
from migrate_opt.policy.hf import LoRAConfig  # noqa: E402
from migrate_opt.testing.toy import DigitShareTask as DigitShare  # noqa: E402

# A random model needs a large step and adapters on every projection to move visibly in a
# dozen groups (measured: q,v only at lr 3e-3 stayed flat).
FAST = GRPOConfig(learning_rate=5e-2, steps_per_group=1, advantage="std")
ALL_PROJECTIONS = LoRAConfig(rank=8, alpha=16, target_modules=(
    "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"))


def make(db=None, method="grpo", seed=0, grpo=FAST, size=8, policy_options=(), **options):
    policy = load_policy("tiny-random", seed=0, lora=ALL_PROJECTIONS, **dict(policy_options))
    return create("optimizer", method, DigitShare(), policy=policy, group_size=size, grpo=grpo,
                   database=db, seed=seed, **options)


def on_policy_mean(group):
    rewards = [m.reward for m in group.members if m.source == "on_policy"]
    return statistics.mean(r for r in rewards if r is not None)


def test_learning_raises_on_policy_reward():
    opt = make()
    means = []
    for _ in range(12):
        group = opt.ask()
        opt.tell(group, opt.task.evaluate(group.solutions))
        means.append(on_policy_mean(group))
    start, end = statistics.mean(means[:3]), statistics.mean(means[-3:])
    assert end > start + 0.2, means


def test_tell_moves_adapter_not_base():
    opt = make()
    named = dict(opt.policy.model.named_parameters())
    before = {k: v.detach().clone() for k, v in named.items()}
    group = opt.ask()
    opt.tell(group, opt.task.evaluate(group.solutions))
    lora = [k for k in named if "lora_" in k]
    base = [k for k in named if "lora_" not in k]
    assert lora and base
    assert any(not torch.equal(before[k], named[k]) for k in lora)
    assert all(torch.equal(before[k], named[k]) for k in base)
    assert opt.database.metrics() and "loss" in opt.database.metrics()[0]


def snapshot(db):
    return [(r.solution, r.score, r.source, r.iteration) for r in db.records()]


def test_resume_gives_same_records_as_uninterrupted(tmp_path):
    whole = SQLiteDatabase(str(tmp_path / "whole.db"))
    run(make(whole, method="migrate", seed=3, size=6), iterations=4, progress=False)

    path = str(tmp_path / "cut.db")
    run(make(SQLiteDatabase(path), method="migrate", seed=3, size=6), iterations=2,
        progress=False)
    resumed = make(SQLiteDatabase(path), method="migrate", seed=3, size=6)
    assert resumed.iteration == 2
    run(resumed, iterations=2, progress=False)
    assert snapshot(SQLiteDatabase(path)) == snapshot(whole)
    assert len(snapshot(whole)) > 6


def test_update_interrupted_after_store_is_redone_on_resume(tmp_path):
    whole = SQLiteDatabase(str(tmp_path / "whole.db"))
    run(make(whole, method="migrate", seed=5, size=6), iterations=3, progress=False)

    path = str(tmp_path / "crash.db")
    opt = make(SQLiteDatabase(path), method="migrate", seed=5, size=6)
    run(opt, iterations=1, progress=False)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # the process dies after storing, before training

    opt.updater.step = crash
    with pytest.raises(KeyboardInterrupt):
        run(opt, iterations=1, progress=False)
    db = SQLiteDatabase(path)
    assert db.last_iteration() == 1 and db.load_checkpoint()[0] == 0
    resumed = make(db, method="migrate", seed=5, size=6)
    assert db.load_checkpoint()[0] == 0  # building an optimizer never trains
    resumed.restore()  # redoes iteration 1's update (the first ask would do it too)
    assert db.load_checkpoint()[0] == 1
    run(resumed, iterations=1, progress=False)
    assert snapshot(db) == snapshot(whole)


def test_checkpoints_come_every_k_groups_and_at_the_end(tmp_path):
    db = SQLiteDatabase(str(tmp_path / "k.db"))
    opt = make(db, method="migrate", seed=1, size=4, checkpoint_every=3,
               checkpoint_seconds=None)
    seen = []
    run(opt, iterations=5, progress=False,
        callbacks=[lambda o, g, r: seen.append((g.iteration, db.load_checkpoint()[0]
                                                 if db.load_checkpoint() else None))])
    # written after the third group only; the end of the run writes the fifth
    assert seen == [(0, None), (1, None), (2, 2), (3, 2), (4, 2)]
    assert db.load_checkpoint()[0] == 4


def test_a_study_of_the_old_path_resumes_on_the_new_one_with_its_records(tmp_path):
    """Checkpointed after every group, trained in float32 (what earlier versions did), then
    resumed with the defaults: the checkpoint loads, nothing is replayed or re-evaluated."""
    path = str(tmp_path / "old.db")
    old = make(SQLiteDatabase(path), method="migrate", seed=3, size=6, checkpoint_every=1,
               policy_options={"train_precision": "float32"})
    run(old, iterations=2, progress=False)
    before = snapshot(SQLiteDatabase(path))
    resumed = make(SQLiteDatabase(path), method="migrate", seed=3, size=6,
                   policy_options={"train_precision": "bfloat16"})
    trained = []
    resumed.updater.step = lambda *a, **k: trained.append(1) or []  # a replay would call it
    resumed.restore()
    assert trained == [] and resumed.iteration == 2
    del resumed.updater.step
    run(resumed, iterations=2, progress=False)
    after = snapshot(SQLiteDatabase(path))
    assert after[: len(before)] == before and len(after) > len(before)
    assert SQLiteDatabase(path).load_checkpoint()[0] == 3


class OpenedDigitShare(DigitShare):
    """The same task with the answer opened for the model and closed by a stop string."""

    response_prefix = "<<"
    stop = (">",)


def test_answers_open_with_the_response_prefix_and_train_after_it():
    policy = load_policy("tiny-random", seed=0, lora=ALL_PROJECTIONS)
    opt = create("optimizer", "migrate", OpenedDigitShare(), policy=policy, group_size=4, grpo=FAST,
                  seed=0)
    for _ in range(3):  # the later groups hold replays, whose text carries the prefix too
        group = opt.ask()
        opt.tell(group, opt.task.evaluate(group.solutions))
    sampled = [m for m in group.members if m.token_ids]
    assert sampled and all(m.completion.startswith("<<") for m in group.members)
    for m in sampled:  # the stop string ends the sample; the prefix is not a sampled token
        assert ">" not in policy.tokenizer.decode(list(m.token_ids[:-1]))
        assert not policy.tokenizer.decode(m.token_ids).startswith("<<")
    assert "loss" in opt.database.metrics()[-1]


def test_learning_curve_progress_show_and_report_tell_a_collapse(tmp_path, capsys):
    from migrate_opt.cli import main
    from migrate_opt.grpo.monitor import learning_curve
    from migrate_opt.report import write_report

    path = str(tmp_path / "s.db")
    collapsing = GRPOConfig(learning_rate=5e-2, steps_per_group=1, advantage="std", max_kl=1e-3)
    opt = make(SQLiteDatabase(path, study="digits"), grpo=collapsing)
    seen: list = []
    run(opt, iterations=4, progress=False,
        callbacks=[lambda o, g, _: seen.append((on_policy_mean(g), o.progress(g),
                                                len(g.pending)))])
    curve = learning_curve(opt.database)
    assert curve.iterations == [0, 1, 2, 3]
    assert curve.new_solutions == [pending for *_, pending in seen]
    assert curve.on_policy_reward == pytest.approx([mean for mean, *_ in seen])
    assert curve.kl[0] == pytest.approx(0.0, abs=1e-7) and curve.kl[-1] > 1e-3
    assert curve.kl_exceeded >= 1
    assert seen[0][1]["on-policy"] == f"{seen[0][0]:.3f}"
    assert "too far" in seen[-1][1]["kl"] and "too far" not in seen[0][1]["kl"]
    assert main(["show", path]) == 0
    shown = capsys.readouterr().out
    assert "on-policy reward" in shown and "new solutions" in shown and "past max_kl" in shown
    html = open(write_report(path, "digits", str(tmp_path / "r.html"))).read()
    assert "What training did" in html and "past max_kl" in html


def test_an_untrained_run_shows_its_on_policy_reward_without_kl():
    opt = make(method="sample", grpo=None)
    group = opt.ask()
    opt.tell(group, opt.task.evaluate(group.solutions))
    assert set(opt.progress(group)) == {"on-policy"}
