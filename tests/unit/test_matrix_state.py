"""Resume logic: cell states kept across reruns and restarts, variant failure, progress and ETA."""

from __future__ import annotations

import pytest

from iejtui.config import load_config
from iejtui.matrix import state as stm
from iejtui.matrix.estimate import Estimate, History, cell_seconds, estimate, eta
from iejtui.matrix.parse import load_matrix

from test_matrix_spec import MINIMAL, PROFILE


@pytest.fixture
def spec_of(tmp_path):
    (tmp_path / "iejtui.toml").write_text(PROFILE)

    def make(text: str = MINIMAL):
        (tmp_path / "m.toml").write_text(text)
        return load_matrix(tmp_path / "m.toml", load_config(tmp_path / "iejtui.toml"))
    return make


def finish(st, keys, status="done", t0=100.0, took=10.0):
    for k in keys:
        stm.mark_cell(st, k, "running", now=t0)
        stm.mark_cell(st, k, status, now=t0 + took, run_id=1)


def test_new_state_runs_variants_in_file_order(spec_of):
    st = stm.new_state(spec_of(), now=1.0)
    assert st["state"] == "running" and stm.counts(st)["pending"] == 8
    assert stm.next_variant(st) == "seqs8"
    finish(st, stm.cells_of(st, "seqs8"))
    assert stm.next_variant(st) == "seqs64"
    finish(st, stm.cells_of(st, "seqs64"))
    assert stm.next_variant(st) is None and stm.counts(st)["finished"] == 8


def test_rerun_keeps_finished_cells_and_reruns_the_cut_one(spec_of):
    spec = spec_of()
    st = stm.new_state(spec)
    keys = stm.cells_of(st, "seqs8")
    finish(st, keys[:3])
    stm.mark_cell(st, keys[3], "running", run_id=7)  # the service died during this one
    st2 = stm.merge(stm.reset_running(st), spec)
    assert [st2["cells"][k]["status"] for k in keys] == ["done", "done", "done", "pending"]
    assert st2["cells"][keys[3]]["attempts"] == 1  # kept: it is the same cell
    assert stm.next_variant(st2) == "seqs8"


def test_restart_after_a_variants_last_cell_leaves_it_done(spec_of):
    """Killed between a variant's last cell and the stop of its engine: the variant is done
    (nothing of it to start again), the next one is pending."""
    st = stm.new_state(spec_of())
    st["variants"]["seqs8"]["status"] = "running"
    finish(st, stm.cells_of(st, "seqs8"))
    st2 = stm.reset_running(st)
    assert st2["variants"]["seqs8"]["status"] == "done" and stm.next_variant(st2) == "seqs64"
    st["variants"]["seqs64"]["status"] = "starting"  # cut while its engine started: it runs again
    assert stm.reset_running(st)["variants"]["seqs64"]["status"] == "pending"


def test_editing_a_variant_reruns_only_its_cells(spec_of):
    st = stm.new_state(spec_of())
    finish(st, st["order"])
    for v in st["variants"].values():
        v["status"] = "done"
    st2 = stm.merge(st, spec_of(MINIMAL.replace('"64"]', '"32"]')))
    assert {k for k, c in st2["cells"].items() if c["status"] == "pending"} == set(stm.cells_of(st2, "seqs64"))
    assert st2["variants"]["seqs8"]["status"] != "pending" and st2["variants"]["seqs64"]["status"] == "pending"
    # adding a repetition adds cells, the old ones stay
    st3 = stm.merge(st, spec_of(MINIMAL.replace("repetitions = 2", "repetitions = 3")))
    c = stm.counts(st3)
    assert (c["total"], c["done"], c["pending"]) == (12, 8, 4)


def test_failed_variant_skips_its_cells_and_retry_failed_runs_them_again(spec_of):
    spec = spec_of()
    st = stm.new_state(spec)
    n = stm.fail_variant(st, "seqs8", "exited with code 1: CUDA out of memory")
    assert n == 4 and st["variants"]["seqs8"]["status"] == "failed"
    assert all(st["cells"][k]["reason"].endswith("CUDA out of memory") for k in stm.cells_of(st, "seqs8"))
    assert stm.next_variant(st) == "seqs64"
    kept = stm.merge(st, spec)
    assert stm.counts(kept)["skipped"] == 4 and kept["variants"]["seqs8"]["status"] == "failed"
    again = stm.merge(st, spec, retry_failed=True)
    assert stm.counts(again)["skipped"] == 0 and again["variants"]["seqs8"]["status"] == "pending"


def test_finished_state_is_running_again_after_merge(spec_of):
    spec = spec_of()
    st = stm.new_state(spec)
    finish(st, st["order"])
    st.update(state="cancelled", ended_at=5.0, reason="cancelled by the user")
    st2 = stm.merge(st, spec)
    assert st2["state"] == "running" and "ended_at" not in st2 and stm.next_variant(st2) is None


def test_estimate_from_history_and_live_eta(spec_of):
    spec = spec_of()
    cell = spec.cells()[0]  # 48 prompts × 64 tokens at concurrency 4
    assert cell_seconds(spec, cell, 0.05) == pytest.approx(48 * 64 * 0.05 / 4 + 2)
    guess = estimate(spec, History())
    assert guess.start_s == 90.0 and "a guess" in guess.basis[0]
    hist = History(start_s=30.0, start_basis="median of 3", s_per_token=0.01, token_basis="median",
                   cell_s={cell.hash: 5.0})
    est = estimate(spec, hist)
    assert est.cells_s[cell.key] == 5.0 and est.total_s == pytest.approx(sum(est.cells_s.values()) + 2 * 35.0)
    assert "identical cells" in est.basis[-1]
    st = stm.new_state(spec)
    full = eta(st, est, now=0.0)
    assert full == pytest.approx(est.total_s)
    # the first two cells took twice their estimate: the rest is scaled by 2
    keys = st["order"]
    for k in keys[:2]:
        stm.mark_cell(st, k, "running", now=0.0)
        stm.mark_cell(st, k, "done", now=2 * est.cells_s[k])
    st["variants"]["seqs8"].update(status="running", start_s=30.0)
    left = sum(est.cells_s[k] for k in keys[2:])
    assert eta(st, est, now=100.0) == pytest.approx(2 * left + 35.0)
    # while the second variant's engine starts, what is left of its start counts too
    for k in keys[2:4]:
        stm.mark_cell(st, k, "running", now=0.0)
        stm.mark_cell(st, k, "done", now=2 * est.cells_s[k])
    st["variants"]["seqs8"]["status"] = "done"
    st["variants"]["seqs64"].update(status="starting", starting_at=90.0)
    left = sum(est.cells_s[k] for k in keys[4:])
    assert eta(st, est, now=100.0) == pytest.approx(2 * (left + 30.0 - 10.0))


def test_progress_view_counts_and_eta(spec_of):
    spec = spec_of()
    st = stm.new_state(spec, now=0.0)
    finish(st, st["order"][:2], took=1.0)
    est = Estimate(total_s=100.0, start_s=10.0, cells_s={k: 1.0 for k in st["order"]}, basis=["x"])
    p = stm.progress_view(3, st, est, {"cell": "seqs8/short/c16/1"}, now=50.0)
    assert p["cells"]["done"] == 2 and p["cells"]["total"] == 8 and p["elapsed_s"] == 50.0
    assert p["eta_s"] > 0 and p["current"]["cell"] == "seqs8/short/c16/1" and p["results"] == "benchmarks/seqs"
    st["state"] = "done"
    assert stm.progress_view(3, st, est, now=60.0)["eta_s"] == 0.0
