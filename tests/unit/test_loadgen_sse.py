"""SSE parsing on recorded chunk timelines (vLLM 0.32 chunk semantics)."""

import json

import pytest

from collectors.loadgen.client import RequestRecord, finish_record, parse_stream, split_events


def ev(obj) -> bytes:
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


def tok(text, chat=False):
    if chat:
        return ev({"choices": [{"index": 0, "delta": {"content": text}}]})
    return ev({"choices": [{"index": 0, "text": text}]})


USAGE = ev({"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 15}})
DONE = b"data: [DONE]\n\n"


def test_one_event_per_read_gives_per_chunk_times():
    reads = [tok("a"), tok("b"), tok("c"), USAGE, DONE]
    times = [1.0, 1.1, 1.3, 1.31, 1.32]
    ps = parse_stream(times, reads, chat=False)
    assert ps.chunk_times == [1.0, 1.1, 1.3]
    assert ps.text == "abc"
    assert (ps.output_tokens, ps.prompt_tokens, ps.done, ps.error) == (15, 7, True, "")


def test_multi_token_chunks_are_one_itl_sample_each():
    # 1,1,1,3,1 tokens per chunk: vLLM counts one ITL sample per chunk; usage gives 7
    reads = [tok("a"), tok("b"), tok("c"), tok("def"), tok("g"),
             ev({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 7}}), DONE]
    times = [0.2, 0.3, 0.4, 0.5, 1.3, 1.31, 1.32]
    rec = RequestRecord(index=0, send_time=0.0)
    finish_record(rec, times, reads, chat=False)
    assert rec.success and rec.output_tokens == 7 and rec.prompt_len == 3
    assert rec.ttft == pytest.approx(0.2)
    assert rec.latency == pytest.approx(1.3)  # the usage chunk does not extend E2EL
    assert rec.itl == pytest.approx([0.1, 0.1, 0.1, 0.8])


def test_empty_first_chunk_counts_for_ttft():
    # completions: a chunk with choices counts even if its text is empty (special token)
    reads = [tok(""), tok("x"), USAGE, DONE]
    ps = parse_stream([0.5, 0.6, 0.7, 0.7], reads, chat=False)
    assert ps.chunk_times == [0.5, 0.6]
    assert ps.text == "x"


def test_usage_only_final_chunk_is_not_a_token():
    reads = [tok("a"), tok("b"), USAGE]  # no [DONE]: still fine, like vLLM
    ps = parse_stream([1.0, 2.0, 9.0], reads, chat=False)
    assert ps.chunk_times == [1.0, 2.0] and ps.output_tokens == 15 and not ps.done


def test_events_in_one_read_share_its_arrival_time_and_split_events_across_reads():
    body = tok("a") + tok("b") + tok("c") + USAGE + DONE
    cut = len(tok("a")) + 10  # second event split over two reads
    reads = [body[:cut], body[cut:]]
    ps = parse_stream([1.0, 2.0], reads, chat=False)
    assert ps.chunk_times == [1.0, 2.0, 2.0]


def test_separator_split_across_reads_takes_the_later_read():
    a = tok("a")
    reads = [a[:-1], a[-1:] + tok("b")]
    events, rest = split_events([1.0, 2.0], reads)
    assert [t for t, _ in events] == [2.0, 2.0] and rest == b""


def test_crlf_comments_and_multiline_data():
    body = (b": ping\r\n\r\n" + b'data: {"choices": [{"text": "a"}]}\r\n\r\n'
            + b'data: {"choices":\ndata: [{"text": "b"}]}\n\n' + b"data: [DONE]\r\n\r\n")
    ps = parse_stream([3.0], [body], chat=False)
    assert ps.chunk_times == [3.0, 3.0] and ps.text == "ab" and ps.done


def test_chat_role_chunk_counts_like_vllm_032():
    role = ev({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})
    reads = [role, tok("Hi", chat=True), tok(" there", chat=True), USAGE, DONE]
    ps = parse_stream([1.0, 1.01, 1.2, 1.3, 1.3], reads, chat=True)
    assert ps.chunk_times == [1.0, 1.01, 1.2] and ps.text == "Hi there"


def test_invalid_json_chunk_fails_with_its_index():
    reads = [tok("a"), b'data: {"choices": [\n\n', tok("b")]
    rec = RequestRecord(index=0)
    finish_record(rec, [1.0, 1.1, 1.2], reads, chat=False)
    assert not rec.success and rec.error_kind == "bad_json" and "chunk 1" in rec.error


def test_two_values_in_one_event_is_invalid():
    reads = [b'data: {"choices": [{"text": "a"}]}, {"x": 1}\n\n']
    rec = RequestRecord(index=0)
    finish_record(rec, [1.0], reads, chat=False)
    assert rec.error_kind == "bad_json"


def test_no_token_chunk_is_a_failure():
    rec = RequestRecord(index=0)
    finish_record(rec, [1.0, 1.1], [USAGE, DONE], chat=False)
    assert not rec.success and rec.error_kind == "no_token"
    assert "Never received a valid chunk" in rec.error


def test_error_event_in_stream_fails_the_request():
    rec = RequestRecord(index=0)
    finish_record(rec, [1.0, 1.1], [tok("a"), ev({"error": {"message": "boom"}})], chat=False)
    assert not rec.success and rec.error_kind == "server_error" and "boom" in rec.error


def test_trailing_event_without_blank_line_is_accepted_if_json():
    reads = [tok("a"), b'data: {"choices": [{"text": "b"}]}']
    ps = parse_stream([1.0, 2.0], reads, chat=False)
    assert ps.chunk_times == [1.0, 2.0]


def random_stream(rng, chat):
    alphabet = ['a', ' ', '"', '\\', '\n', '{', '}', 'data: ', 'é', '漢', '\u2028', ',', ':']
    cid = f"id-{rng.randint(0, 999)}"
    events = []
    if chat and rng.random() < 0.7:
        events.append(ev({"id": cid, "choices": [{"index": 0, "delta": {"role": "assistant",
                                                                          "content": ""}}]}))
    n = rng.randint(0, 40)
    for i in range(n):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 4)))
        fin = "length" if i == n - 1 else None
        c = {"index": 0, "logprobs": None, "finish_reason": fin}
        if chat:
            c["delta"] = {"content": text}
        else:
            c["text"] = text
        events.append(ev({"id": cid, "object": "x", "created": 1, "model": "m",
                          "choices": [c], "usage": None}))
    if rng.random() < 0.8:
        events.append(ev({"id": cid, "choices": [], "usage": {"prompt_tokens": 3,
                                                              "completion_tokens": n}}))
    if rng.random() < 0.1 and events:
        events.insert(rng.randrange(len(events)), b'data: {"choices": [{"text": "x"\n\n')
    if rng.random() < 0.8:
        events.append(DONE)
    body = b"".join(events)
    cuts = sorted(rng.sample(range(1, len(body)), min(rng.randint(0, 5), len(body) - 1))) \
        if len(body) > 1 else []
    reads = [body[a:b] for a, b in zip([0] + cuts, cuts + [len(body)])]
    return [0.1 * (i + 1) for i in range(len(reads))], reads


@pytest.mark.parametrize("chat", [False, True])
def test_fast_path_equals_generic_path_on_random_streams(chat, monkeypatch):
    import random

    from collectors.loadgen import sse

    rng = random.Random(7)
    streams = [random_stream(rng, chat) for _ in range(300)]
    fast = [sse.parse_stream(t, r, chat) for t, r in streams]
    monkeypatch.setattr(sse, "_fast", lambda *a: None)
    slow = [sse.parse_stream(t, r, chat) for t, r in streams]
    assert fast == slow
    assert sum(1 for p in fast if p.error_kind == "bad_json") > 10


def test_template_strips_constant_members_only():
    from collectors.loadgen.sse import make_template

    p = b'{"id":"a","choices":[{"index":0,"text":"x\\"y","logprobs":null,"finish_reason":null}]}'
    tpl = make_template(p, json.loads(p), chat=False)
    assert tpl[1] == b'{"choices":[{"text":' and tpl[3] == b"}]}"
    p = b'{"id":"a","choices":[{"index":0,"text":"x"}],"usage":{"completion_tokens":1}}'
    assert make_template(p, json.loads(p), chat=False) is None  # usage must not be dropped
