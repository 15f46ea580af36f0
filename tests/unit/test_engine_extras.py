"""Spec-decode, LoRA and KV-offload figures (iejtui.derive.engine_extras), from vLLM 0.32's
real exposition (an ngram spec-decode run of the CPU build, tests/data/vllm-0.32-metrics-
ngram-spec.txt) and one constructed from its source (tests/data/vllm-0.32-metrics-lora-
offload.txt, file header cites the source files); then the panel rows and the run summary."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from collectors.prometheus import parse_text
from iejtui.derive.engine_extras import engine_extras, lora_state, spec_decode_figures
from iejtui.derive.metric_map import VLLM
from iejtui.summary_text import engine_rows
from iejtui.viewmodel.models import EnginePanel
from iejtui.viewmodel.text import engine_fields, extra_fields

DATA = Path(__file__).resolve().parents[1] / "data"
SPEC = DATA / "vllm-0.32-metrics-ngram-spec.txt"
LORA = DATA / "vllm-0.32-constructed-lora-offload.txt"


class PageStore:
    """``get(name, labels_filter)`` over parsed exposition pages, one page per timestamp."""

    def __init__(self) -> None:
        self.data: dict[str, dict[tuple, tuple[dict, list, list]]] = {}

    def add_page(self, text: str, ts: float, scale: float = 1.0) -> None:
        """``scale`` multiplies counter values (0 = the page as the engine starts: vLLM
        creates these counters at start-up with value 0)."""
        for s in parse_text(text).samples:
            v = s.value * scale if s.name.endswith("_total") else s.value
            labels = dict(s.labels)
            key = tuple(sorted(labels.items()))
            _, ts_l, vs_l = self.data.setdefault(s.name, {}).setdefault(key, (labels, [], []))
            ts_l.append(ts)
            vs_l.append(v)

    def __call__(self, name, labels_filter=None, /):
        return [(lab, list(ts), list(vs)) for lab, ts, vs in self.data.get(name, {}).values()
                if not labels_filter or all(lab.get(k) == v for k, v in labels_filter.items() if k in lab)]


def test_real_ngram_run_acceptance_and_length():
    store = PageStore()
    text = SPEC.read_text()
    store.add_page(text, 100.0, scale=0.0)
    store.add_page(text, 110.0)
    ex = engine_extras(store, 100.0, 110.0, VLLM)
    s = ex.spec
    # the captured run: 56 drafts, 156 draft tokens, all 156 accepted (greedy output looped)
    assert (s.drafts, s.draft_tokens, s.accepted_tokens) == (56, 156, 156)
    assert s.acceptance_pct == pytest.approx(100.0)
    assert s.mean_accepted_len == pytest.approx(1 + 156 / 56)
    assert s.per_position_pct == pytest.approx((100.0, 52 / 56 * 100, 48 / 56 * 100))
    assert ex.lora is None and ex.kv_offload is None  # not enabled on that engine: no rows


def test_engine_without_spec_reports_nothing():
    store = PageStore()
    text = (DATA / "vllm-0.32-metrics-load.txt").read_text()
    store.add_page(text, 0.0)
    store.add_page(text, 10.0)
    ex = engine_extras(store, 0.0, 10.0, VLLM)
    assert ex.empty
    assert extra_fields(ex) == []


def test_spec_formulas_follow_vllm_definitions():
    s = spec_decode_figures(drafts=10, draft_tokens=30, accepted=12, accepted_per_pos={1: 4, 0: 7, 2: 1})
    assert s.acceptance_pct == pytest.approx(40.0)  # accepted / draft tokens
    assert s.mean_accepted_len == pytest.approx(2.2)  # 1 + accepted / drafts
    assert s.per_position_pct == pytest.approx((70.0, 40.0, 10.0))  # sorted by position, / drafts
    idle = spec_decode_figures(drafts=0, draft_tokens=0, accepted=0)
    assert idle.acceptance_pct is None and idle.mean_accepted_len is None  # never a made-up 0 %
    assert spec_decode_figures(None, None, None) is None


def test_lora_newest_child_wins_and_offload_rates():
    store = PageStore()
    text = LORA.read_text()
    store.add_page(text, 100.0, scale=0.0)
    store.add_page(text, 110.0)
    ex = engine_extras(store, 100.0, 110.0, VLLM)
    lo = ex.lora
    assert lo.running == ("sql-lora", "chat-lora") and lo.waiting == ("math-lora",) and lo.max_lora == 4
    k = ex.kv_offload
    assert k.load_bytes_s == pytest.approx(4e8 / 10) and k.store_bytes_s == pytest.approx(1e8 / 10)
    assert k.load_speed_bytes_s == pytest.approx(4e8 / 0.05) and k.store_speed_bytes_s == pytest.approx(1e8 / 0.02)
    # the child with the newest set-time decides (the page lists it second of three)
    assert lora_state(store("vllm:lora_requests_info"), t1=110.0).at == pytest.approx(1.79660001e9)
    assert lora_state(store("vllm:lora_requests_info"), t1=50.0) is None  # nothing scraped by then
    rows = {f.label: f for f in extra_fields(ex)}
    assert rows["LoRA"].text == "2 run · 1 wait / 4" and rows["LoRA"].level == "warn"
    assert rows["KV load"].text == "40.0 MB/s" and rows["KV store"].text == "10.0 MB/s"


def _panel(extras) -> EnginePanel:
    from iejtui.derive.engine import EngineFigures
    figs = EngineFigures(t0=0.0, t1=10.0, generation_tok_s=5.0, running=1.0, waiting=0.0, kv_usage_pct=1.0)
    return EnginePanel(run_id=1, name="e", engine_kind="vllm", status="ready", phase=None, model=None, url=None,
                       started_at=0.0, ended_at=None, reason=None, newest=10.0, stale_since=None,
                       rate_window_s=10.0, latency_window_s=60.0, figures=figs, latency=figs, extras=extras)


def test_panel_rows_appear_only_when_reported():
    store = PageStore()
    text = SPEC.read_text()
    store.add_page(text, 100.0, scale=0.0)
    store.add_page(text, 110.0)
    with_spec = {f.label: f.text for f in engine_fields(_panel(engine_extras(store, 100.0, 110.0, VLLM)))}
    assert with_spec["spec acc"] == "100%" and with_spec["spec len"] == "3.79"
    assert with_spec["spec pos"] == "100 93 86 %"
    without = {f.label for f in engine_fields(_panel(None))}
    assert not {"spec acc", "spec len", "LoRA", "KV load"} & without
    idle = spec_decode_figures(0, 0, 0)
    from iejtui.derive.engine_extras import EngineExtras
    assert [(f.label, f.text) for f in extra_fields(EngineExtras(spec=idle))] == [("spec acc", "no drafts")]


def test_summary_section_and_text():
    from iejtui.summary import extras_section
    store = PageStore()
    for path in (SPEC, LORA):
        store.add_page(path.read_text(), 100.0, scale=0.0)
        store.add_page(path.read_text(), 110.0)
    sec = extras_section(store, 100.0, 110.0, VLLM)
    assert set(sec) == {"spec_decode", "lora", "kv_offload"}
    assert sec["spec_decode"]["per_position_pct"][0] == pytest.approx(100.0)
    assert all(math.isfinite(v) for v in sec["kv_offload"].values())
    rows = dict(engine_rows({**sec, "latency_s": {}}))
    assert rows["spec-decode acceptance"].startswith("100.0 %  mean accepted length 3.79")
    assert rows["LoRA running / waiting"] == "sql-lora,chat-lora / math-lora  (max 4)"
    assert rows["KV offload load / store"] == "40.0 MB/s / 10.0 MB/s"
    assert "spec-decode acceptance" not in dict(engine_rows({"latency_s": {}}))


def test_llamacpp_zero_draft_counters_are_no_row():
    """llama-server b11434 exports its draft counters at 0 without a draft model (the real
    page, tests/data/llamacpp-b11434-metrics.txt): no spec row; a vLLM spec engine's idle
    window still says "no drafts" (its num_drafts counter exists only with spec decoding)."""
    from iejtui.derive.metric_map import LLAMACPP
    from collectors.engines import get_adapter
    LC = get_adapter("llamacpp")
    store = PageStore()
    text = (DATA / "llamacpp-b11434-metrics.txt").read_text()
    for ts in (0.0, 10.0):
        for s in parse_text(text, LC.keep_family).samples:
            labels = dict(s.labels)
            _, t_l, v_l = store.data.setdefault(s.name, {}).setdefault(tuple(sorted(labels.items())), (labels, [], []))
            t_l.append(ts)
            v_l.append(s.value)
    assert engine_extras(store, 0.0, 10.0, LLAMACPP).spec is None
    vllm = PageStore()
    vllm.add_page(SPEC.read_text(), 0.0)
    vllm.add_page(SPEC.read_text(), 10.0)  # idle: no increase
    s = engine_extras(vllm, 0.0, 10.0, VLLM).spec
    assert s is not None and s.drafts == 0 and s.acceptance_pct is None
