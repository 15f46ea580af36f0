"""The Benchmark screen: bench runs with live progress (seeded journal), and a benchmark
started from the keyboard against a real service and a real local OpenAI server, followed
to the end and cancelled, its figures checked against what the journal stored."""
from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import pytest
from conftest import settle

from tests.doubles.mockserver import MockConfig, MockServer
from iejtui.paths import JournalPaths
from iejtui.store import Reader
from iejtui.ui.app import make_app
from iejtui.ui.modals import StartBenchModal
from iejtui.ui.screens.bench import BenchScreen
from iejtui.ui.screens.run_view import RunScreen

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers import cli, cli_json, stop_service  # noqa: E402


def _table(app) -> dict[str, list[str]]:
    table = app.screen.query_one("#benches")
    return {str(k.value): [str(c) for c in table.get_row(k)] for k in table.rows}


async def test_seeded_benchmarks_live_and_finished(app_factory):
    app = app_factory()
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("b")
        await settle(pilot, lambda: isinstance(app.screen, BenchScreen) and app.screen.rows)
        rows = _table(app)
        assert list(rows) == ["6", "5"]  # newest first: the running one, then the finished one
        live, done = rows["6"], rows["5"]
        assert live[2] == "running" and live[3] == "156/200" and live[4] == "519.0" and live[5] == "95.0 / 240.0"
        assert done[2] == "stopped" and done[3] == "1000/1000 ✗2" and done[4] == "1,412"
        assert "r4 llama8b" in live[6] and "random n=200 c=8 in=512 out=128" in live[8]
        bar = app.screen.query_one("#bench-progress")
        assert bar.total == 200 and bar.progress == 156
        figures = str(app.screen.query_one("#bench-figures").render())
        assert "156/200" in figures and "(last 5 s)" in figures
        await pilot.press("down")
        await settle(pilot)
        figures = str(app.screen.query_one("#bench-figures").render())
        assert "took 2 min" in figures and "TPOT p50" in figures and "10.9 ms" in figures
        assert bar.total == 1000 and bar.progress == 1000
        await pilot.press("c")  # not running: says so, cancels nothing
        await pilot.press("enter")
        await settle(pilot, lambda: isinstance(app.screen, RunScreen))
        assert app.screen.run_id == 5


async def test_pareto_key_draws_the_finished_runs_frontier(app_factory):
    """Key p: a plotext Pareto chart (output tok/s against TTFT p99) of the finished runs;
    the running r6 is not on it. Esc closes it."""
    from iejtui.ui.modals import TextModal
    app = app_factory()
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("b")
        await settle(pilot, lambda: isinstance(app.screen, BenchScreen) and app.screen.rows)
        await pilot.press("p")
        await settle(pilot, lambda: isinstance(app.screen, TextModal))
        text = app.screen.text
        assert "Pareto: output throughput (tok/s) vs TTFT p99 (ms)" in text and "● frontier: r5" in text
        assert "r6" not in text and "dominated" not in text
        await pilot.press("escape")
        await settle(pilot, lambda: isinstance(app.screen, BenchScreen))


async def test_empty_journal_says_how_to_start(tmp_path):
    root = tmp_path / "j"
    assert cli(root, "init", str(root)).returncode == 0
    app = make_app(JournalPaths(root), refresh_s=3600.0)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("b")
        await settle(pilot, lambda: isinstance(app.screen, BenchScreen) and not app.screen._busy)
        assert "Press n to benchmark" in str(app.screen.query_one("#bench-figures").render())
        await pilot.press("n")  # no service, no engine: a notification, no dialog
        await settle(pilot)
        assert not isinstance(app.screen, StartBenchModal)


@pytest.mark.integration
def test_benchmark_started_from_the_screen_runs_to_the_end_and_cancels(tmp_path):
    root = tmp_path / "j"
    assert cli(root, "init", str(root)).returncode == 0

    async def scenario():
        srv = MockServer(MockConfig(chunks=16, itl_s=0.01))
        await srv.start()
        try:
            p = await asyncio.to_thread(cli, root, "engine", "attach", "mock", srv.url, "--kind", "openai")
            assert p.returncode == 0, p.stderr
            app = make_app(JournalPaths(root))
            async with app.run_test(size=(120, 36)) as pilot:
                await pilot.press("b")
                await settle(pilot, lambda: isinstance(app.screen, BenchScreen))
                screen = app.screen
                await pilot.press("n")
                await settle(pilot, lambda: isinstance(app.screen, StartBenchModal), timeout=30)
                modal = app.screen
                flags = modal.query_one("#flags")
                flags.value = "--num-prompts lots"
                await pilot.press("ctrl+s")
                assert "num-prompts" in str(modal.query_one("#error").render())  # nothing started
                flags.value = ("--dataset-name random --num-prompts 24 --max-concurrency 4 --model mock "
                               "--random-input-len 16 --random-output-len 16 --ignore-eos --seed 1")
                modal.query_one("#name").value = "from-tui"
                await pilot.press("ctrl+s")
                await settle(pilot, lambda: screen.rows and screen.rows[0].name == "from-tui"
                             and screen.rows[0].status == "stopped", timeout=60)
                row = screen.rows[0]
                reader = Reader(root / "journal.db")
                run = reader.run(row.id)
                reqs = reader.requests(row.id)
                reader.close()
                assert (row.done, row.total, row.failed) == (24, 24, 0) and len(reqs) == 24
                assert row.out_tok_s == pytest.approx(run["summary"]["output_throughput"])
                assert row.ttft_p50_ms == pytest.approx(run["summary"]["median_ttft_ms"])
                assert row.target.endswith(" mock")
                # a long one, cancelled from the keyboard while it runs
                await pilot.press("n")
                await settle(pilot, lambda: isinstance(app.screen, StartBenchModal), timeout=30)
                app.screen.query_one("#flags").value = ("--num-prompts 5000 --max-concurrency 2 --model mock "
                                                        "--random-input-len 16 --random-output-len 16")
                app.screen.query_one("#name").value = "long"
                await pilot.press("ctrl+s")
                await settle(pilot, lambda: screen.rows[0].name == "long" and (screen.rows[0].done or 0) > 0,
                             timeout=60)
                screen.query_one("#benches").move_cursor(row=0)
                await pilot.press("c")
                await settle(pilot, lambda: screen.rows[0].status != "running", timeout=60)
                assert screen.rows[0].status == "interrupted" and "cancelled" in screen.rows[0].reason
                assert 0 < screen.rows[0].done < 5000
        finally:
            await srv.stop()

    try:
        asyncio.run(scenario())
    finally:
        stop_service(root)
