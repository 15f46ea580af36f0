"""The journal commands: day new/list/refresh/promote/chart, tag, export, promote; errors are
one line on stderr with exit code 2."""

from __future__ import annotations

from click.testing import CliRunner
from test_journal_fixture import SECRETS, real_journal

from iejtui.cli import main


def run(root, *args):
    r = CliRunner().invoke(main, [*args, "--journal", str(root)], catch_exceptions=False)
    return r.exit_code, r.stdout, r.stderr


def test_day_tag_export_promote_from_the_shell(tmp_path):
    root, _ = real_journal(tmp_path)
    code, out, err = run(root, "day", "new", "Initial setup", "--run", "demo", "--note", "first light")
    assert code == 0 and "days/day-001-initial-setup/LOG.md" in out
    assert "service not running" in err  # journal.db tags lag; the folder is the truth
    code, out, _ = run(root, "tag", "broken", "r2", "--day", "1")
    assert code == 0 and "tagged broken, r2 into days/day-001-initial-setup" in out
    code, out, _ = run(root, "day", "list")
    assert code == 0 and "001" in out and "r1,r3,r2" in out
    code, out, _ = run(root, "day", "list", "--json")
    assert code == 0 and '"runs": [' in out
    code, out, _ = run(root, "export", "--day", "1")
    assert code == 0 and out.startswith("# Day 001: Initial setup")
    target = tmp_path / "exports" / "day1.md"
    code, out, _ = run(root, "export", "--day", "1", "-o", str(target))
    assert code == 0 and target.exists() and "](../journal/days/day-001-initial-setup/run-1-demo.svg)" in target.read_text()
    code, out, _ = run(root, "export", "--run", "hostile", "--run", "1")
    assert code == 0 and "# iejtui runs r2, r1" in out
    assert all(s not in out for s in SECRETS)
    code, out, _ = run(root, "promote", "demo", "--as", "tiny-cpu")
    assert code == 0 and (root / "benchmarks" / "tiny-cpu" / "results.json").exists()
    code, out, _ = run(root, "day", "refresh", "1")
    assert code == 0
    code, out, _ = run(root, "day", "chart", "demo", "--panel", "throughput", "--width", "60")
    assert code == 0 and "Token throughput" in out


def test_errors_are_one_line_exit_2(tmp_path):
    root, _ = real_journal(tmp_path)
    cases = [
        (["tag", "demo", "--day", "3"], "no day 3"),
        (["day", "new", "x", "--run", "nope"], "no run 'nope'"),
        (["export"], "either --day N or --run RUN"),
        (["export", "--day", "1", "--run", "demo"], "either --day N or --run RUN"),
        (["promote", "demo", "--as", "Bad Name"], "invalid benchmark name"),
        (["day", "promote", "9", "--topic", "vllm"], "no day 9"),
    ]
    for args, msg in cases:
        code, out, err = run(root, *args)
        assert code == 2, (args, out, err)
        assert err.startswith("iejtui: ") and msg in err and err.count("\n") == 1, err
        assert "Traceback" not in err


def test_no_journal_db_is_a_clear_error(tmp_path):
    code, _, err = run(tmp_path, "day", "new", "x")
    assert code == 2 and "no journal.db yet" in err
