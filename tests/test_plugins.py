import sys
import textwrap

import pytest

import migrate_opt
from migrate_opt import PluginError, UnknownNameError, hookimpl
from migrate_opt.registry import build_registry


def make_dist(root, dist, module, source, ep_name=None):
    """A plugin distribution as pip would install it: a module and a dist-info with an
    entry point in the ``migrate_opt`` group."""
    (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / f"{dist.replace('-', '_')}-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text(
        f"[migrate_opt]\n{ep_name or module} = {module}\n"
    )


PLUGIN = """
from migrate_opt import hookimpl, Evaluation
from migrate_opt.testing import ToyTask

class Shout(ToyTask):
    name = "shout"

@hookimpl
def register_tasks(register):
    register("shout", Shout, description="a third-party task")
"""


@pytest.fixture
def site(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("MIGRATE_OPT_PLUGINS", raising=False)
    monkeypatch.delenv("MIGRATE_OPT_DISABLE_PLUGINS", raising=False)
    yield tmp_path
    for mod in ("third_party_shout", "broken_plugin", "clash_plugin", "typo_plugin"):
        sys.modules.pop(mod, None)


def test_entry_point_plugin_is_discovered_and_usable(site):
    make_dist(site, "mo-shout", "third_party_shout", PLUGIN)
    reg = build_registry()
    entry = reg.entry("task", "shout")
    assert (entry.distribution, entry.version, entry.plugin) == (
        "mo-shout", "1.2.3", "third_party_shout")
    task = reg.create("task", "shout", target="12")
    opt = migrate_opt.create("optimizer", "sample", task, group_size=1,
                             policy=migrate_opt.testing.ScriptedPolicy(['["12"]']))
    group = opt.ask()
    opt.tell(group, task.evaluate(group.solutions))
    assert opt.solved


def test_broken_plugin_is_skipped_not_fatal(site, caplog, monkeypatch):
    make_dist(site, "mo-broken", "broken_plugin", "raise ImportError('missing dep xyz')")
    monkeypatch.setenv("MIGRATE_OPT_PLUGINS", "broken_plugin")  # whatever else is installed
    reg = build_registry()
    assert "toy" in reg.names("task")
    assert [s.name for s in reg.skipped] == ["broken_plugin"]
    assert "missing dep xyz" in reg.skipped[0].error
    assert "skipping plugin" in caplog.text


def test_duplicate_name_is_an_error_naming_both(site):
    make_dist(site, "mo-clash", "clash_plugin", """
        from migrate_opt import hookimpl
        @hookimpl
        def register_tasks(register):
            register("toy", object)
    """)
    with pytest.raises(
        PluginError, match=r"'toy' is registered twice.*builtin_plugins.*clash_plugin"
    ):
        build_registry()


def test_hook_typo_fails_loudly(site):
    make_dist(site, "mo-typo", "typo_plugin", """
        from migrate_opt import hookimpl
        @hookimpl
        def register_taks(register):
            pass
    """)
    with pytest.raises(PluginError, match="register_taks"):
        build_registry()


def test_allow_and_deny_lists(site, monkeypatch):
    make_dist(site, "mo-shout", "third_party_shout", PLUGIN)
    make_dist(site, "mo-broken", "broken_plugin", "raise ImportError('x')")
    monkeypatch.setenv("MIGRATE_OPT_PLUGINS", "third_party_shout,broken_plugin")
    monkeypatch.setenv("MIGRATE_OPT_DISABLE_PLUGINS", "broken_plugin")
    reg = build_registry()
    assert "shout" in reg.names("task") and not reg.skipped
    monkeypatch.delenv("MIGRATE_OPT_PLUGINS")
    monkeypatch.setenv("MIGRATE_OPT_PLUGINS", "")
    monkeypatch.delenv("MIGRATE_OPT_DISABLE_PLUGINS")
    reg = build_registry()
    assert "shout" not in reg.names("task") and "toy" in reg.names("task")


@pytest.mark.parametrize("name", ["mo-broken", "MO_Broken"])
def test_plugins_are_named_by_their_package_too(site, monkeypatch, caplog, name):
    make_dist(site, "mo-broken", "broken_plugin", "raise ImportError('x')")
    make_dist(site, "mo-shout", "third_party_shout", PLUGIN)
    monkeypatch.setenv("MIGRATE_OPT_DISABLE_PLUGINS", f"{name},not-installed")
    reg = build_registry()
    assert "broken_plugin" not in [s.name for s in reg.skipped]
    assert "shout" in reg.names("task")
    assert "'not-installed', which is no installed plugin" in caplog.text
    monkeypatch.setenv("MIGRATE_OPT_PLUGINS", "mo-shout")
    monkeypatch.delenv("MIGRATE_OPT_DISABLE_PLUGINS")
    assert build_registry().entry("task", "shout").distribution == "mo-shout"


def test_unknown_name_lists_installed_and_closest():
    with pytest.raises(UnknownNameError, match=r"Did you mean 'greedy'\?.*Installed samplers:"):
        migrate_opt.create("sampler", "greddy")
    with pytest.raises(UnknownNameError, match=r"Did you mean 'migrate'\?"):
        migrate_opt.registry().entry("optimizer", "MiGrATe")  # the paper's spelling


def test_register_plugin_in_code_and_unregister():
    class Plugin:
        @hookimpl
        def register_samplers(self, register):
            register("mine", migrate_opt.samplers.OnPolicy)

    p = Plugin()
    migrate_opt.register_plugin(p)
    try:
        assert "mine" in migrate_opt.registry().names("sampler")
        assert migrate_opt.registry().entry("sampler", "mine").distribution == (
            "(registered in code)")
    finally:
        migrate_opt.unregister_plugin(p)
    assert "mine" not in migrate_opt.registry().names("sampler")


def test_import_does_not_pull_heavy_modules():
    import subprocess

    heavy = "('torch', 'rdkit', 'ray', 'transformers')"
    code = f"import sys, migrate_opt; print([m for m in {heavy} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
