"""Secrets never reach journal.db, logs shown by iejtui, or exports.

Pure functions: argv flags that carry secrets, environment variables whose names say
they are secrets, and any occurrence of those secret values in free text (log lines).
"""

from __future__ import annotations

import hashlib
import re
import secrets as secrets_module

MASK = "***"

# Flags whose value is a secret (``--flag VALUE`` and ``--flag=VALUE``).
SECRET_FLAGS = {
    "--api-key", "--api_key", "--hf-token", "--token", "--auth-token", "--password",
    "--secret", "--access-token", "--openai-api-key",
}
_SECRET_WORDS = {"KEY", "APIKEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "CREDENTIALS", "PASS"}
_SECRET_FLAG = re.compile(r"(api[-_]?key|secret|password|passwd|credential|(^|[-_])(hf|auth|access|bearer|api|id)[-_]token$|^token$)")
# Inline forms seen in logs and URLs: "api_key='...'", "Authorization: Bearer ...", "token=..."
_INLINE = re.compile(
    r"(?i)((?:api[_-]?key|token|secret|password|authorization)\s*[=:]\s*['\"]?(?:bearer\s+)?)([^\s'\",)}]+)")


def is_secret_name(name: str) -> bool:
    """An environment variable name that holds a secret (HF_TOKEN, OPENAI_API_KEY, ...)."""
    return any(word in _SECRET_WORDS for word in re.split(r"[_\W]+", name.upper()))


def is_secret_flag(flag: str) -> bool:
    """A command-line flag whose value is a secret (--api-key, --hf-token, --token...)."""
    return flag in SECRET_FLAGS or bool(_SECRET_FLAG.search(flag.lstrip("-").lower()))


def redact_argv(argv: list[str]) -> tuple[list[str], list[str]]:
    """Return (argv with secret values masked, the secret values found)."""
    out: list[str] = []
    secrets: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            secrets.append(arg)
            out.append(MASK)
            hide_next = False
            continue
        flag, eq, value = arg.partition("=")
        if flag.startswith("-") and is_secret_flag(flag):
            if eq:
                secrets.append(value)
                out.append(f"{flag}={MASK}")
            else:
                out.append(arg)
                hide_next = True
            continue
        out.append(arg)
    return out, [s for s in secrets if s]


def redact_env(env: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """Return (env with secret variables masked, the secret values found)."""
    out = {}
    secrets = []
    for k, v in env.items():
        if is_secret_name(k):
            out[k] = MASK
            if v:
                secrets.append(v)
        else:
            out[k] = v
    return out, secrets


def redact_text(text: str, secrets: list[str] = ()) -> str:
    """Mask known secret values and inline ``key=value`` secrets in free text."""
    for s in sorted(set(secrets), key=len, reverse=True):
        if len(s) >= 4:
            text = text.replace(s, MASK)
    return _INLINE.sub(lambda m: m.group(1) + MASK, text)


# ---- fingerprints: masking secrets in logs after the service that knew them is gone ----
# A word of text: what lies between spaces, quotes and brackets. Inside a word the
# separators ``= : , ; & ? / @`` may belong to the secret itself (``a:b=c``) or join it to a label
# (``api_key=VALUE``, ``user:VALUE``), so every run of whole pieces is a candidate.
_TOKEN = re.compile(r"[^\s'\"()\[\]{}]+")
_SEPARATOR = re.compile(r"[=:,;&?/@]")
_MAX_PIECES = 24  # longer words are checked piece by piece only (bounded cost per line)


def fingerprint(secret: str, salt: str) -> str:
    return hashlib.sha256((salt + secret).encode()).hexdigest()


def make_fingerprints(secrets: list[str]) -> dict:
    """A salted-hash record of secret values, safe to keep on disk beside the logs.

    ``lengths`` (the secrets' lengths) only prunes which spans get hashed; records
    written before it existed still work (every span is hashed)."""
    salt = secrets_module.token_hex(8)
    kept = {s for s in secrets if len(s) >= 4}
    return {"salt": salt, "hashes": sorted({fingerprint(s, salt) for s in kept}),
            "lengths": sorted({len(s) for s in kept})}


def _candidate_spans(word: str) -> list[tuple[int, int]]:
    """(start, end) of every run of whole separator-delimited pieces of ``word``, longest first."""
    bounds = [(0, 0)]  # (start of a piece, end of the previous piece)
    for m in _SEPARATOR.finditer(word):
        bounds.append((m.end(), m.start()))
    starts = [b[0] for b in bounds]
    ends = [b[1] for b in bounds[1:]] + [len(word)]
    if len(starts) > _MAX_PIECES:
        return [(a, b) for a, b in zip(starts, ends)]
    spans = [(a, b) for i, a in enumerate(starts) for b in ends[i:] if b > a]
    return sorted(spans, key=lambda ab: ab[0] - ab[1])


def _mask_word(word: str, salt: str, hashes: set, lengths: set | None) -> str:
    taken: list[tuple[int, int]] = []
    for a, b in _candidate_spans(word):
        if lengths is not None and b - a not in lengths:
            continue
        if any(a < tb and ta < b for ta, tb in taken):
            continue
        if fingerprint(word[a:b], salt) in hashes:
            taken.append((a, b))
    for a, b in sorted(taken, reverse=True):
        word = word[:a] + MASK + word[b:]
    return word


def redact_by_fingerprints(text: str, record: dict | None) -> str:
    """Mask every secret of ``record`` in ``text`` (a secret may contain ``=``, ``:``...),
    then inline secrets."""
    if record and record.get("hashes"):
        salt, hashes = record["salt"], set(record["hashes"])
        lengths = set(record["lengths"]) if record.get("lengths") else None
        text = _TOKEN.sub(lambda m: _mask_word(m.group(0), salt, hashes, lengths), text)
    return redact_text(text)


def redact_known(text: str, secrets: list[str], record: dict | None) -> str:
    """Mask the run's secrets in ``text``: known values first, then fingerprints, then
    labels and shapes. Whole secrets go before shapes, so a shape matching part of a
    secret (``hf_…`` in ``hf_…:x=y``) cannot leave the rest of it behind."""
    for s in sorted(set(secrets), key=len, reverse=True):
        if len(s) >= 4:
            text = text.replace(s, MASK)
    return redact_by_fingerprints(text, record)
