"""A bench's command line before it is parsed (``config.parse_args``): the caller's paths
made absolute, and an engine kind's default backend put first.

The CLI and the service both rewrite the flags a user gave this way before parsing: the
service runs in the journal's folder, the user in theirs, and a Triton serves no OpenAI API.
"""

from __future__ import annotations

import os

#: engine kind -> the backend a bench of such an engine (``--engine NAME``) uses unless
#: ``--backend`` is given: a Triton serves no OpenAI API, so it is benched through its
#: generate_stream (whose default ``--endpoint`` is then ``/v2/models/ensemble/generate_stream``).
ENGINE_BACKENDS = {"triton": "tensorrt-llm"}


#: Flags naming files or folders of the caller: always resolved against the caller's folder
#: (``vllm bench serve`` runs in the caller's folder; the service runs in the journal's).
CALLER_PATH_FLAGS = ("--result-dir", "--dataset-path")
#: Flags that are a local path or a Hugging Face id: resolved only when the path exists there.
MAYBE_PATH_FLAGS = ("--tokenizer", "--model")


def resolve_path_flags(argv: list[str], cwd: str | None) -> list[str]:
    """``argv`` with its path flags made absolute against ``cwd`` (the caller's folder).

    Decisions: ``--result-dir``/``--dataset-path`` are resolved whether or not they exist
    (a result folder is created later; a missing dataset is then reported by its real
    path). ``--tokenizer``/``--model`` are resolved only when ``cwd/VALUE`` exists, so a
    Hugging Face id (``meta-llama/Llama-3.1-8B``) passes unchanged. A resolved ``--model``
    keeps its text as the model name the requests send (``--served-model-name``, unless
    given), as ``vllm serve ./m`` serves it under ``./m``. Absolute paths, ``~`` and
    ``--flag=value`` forms are handled; nothing else in ``argv`` changes."""
    if not cwd:
        return list(argv)
    out: list[str] = []
    given_name = any(a == "--served-model-name" or a.startswith("--served-model-name=") for a in argv)
    extra: list[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        flag, value, glued = a, None, False
        if "=" in a and a.split("=", 1)[0] in CALLER_PATH_FLAGS + MAYBE_PATH_FLAGS:
            flag, value = a.split("=", 1)
            glued = True
        elif a in CALLER_PATH_FLAGS + MAYBE_PATH_FLAGS and i + 1 < len(argv):
            value = argv[i + 1]
        if value is None or value.startswith("-") and not glued:
            out.append(a)
            i += 1
            continue
        path = os.path.join(cwd, os.path.expanduser(value))
        new = value
        if flag in CALLER_PATH_FLAGS or os.path.exists(path):
            new = os.path.normpath(path)
            if flag == "--model" and new != value and not given_name:
                extra = ["--served-model-name", value]
        out += [f"{flag}={new}"] if glued else [flag, new]
        i += 1 if glued else 2
    return out + extra


def with_engine_defaults(kind: str | None, argv: list[str]) -> list[str]:
    """``argv`` for a bench of an engine of ``kind``: ``--backend`` of ``ENGINE_BACKENDS``
    put first when the kind has one and the flags name no backend (an explicit
    ``--backend`` always wins; the endpoint then follows the backend's default unless given)."""
    backend = ENGINE_BACKENDS.get(kind or "")
    if backend is None or any(a == "--backend" or a.startswith("--backend=") for a in argv):
        return list(argv)
    return ["--backend", backend, *argv]
