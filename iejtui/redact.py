"""Secrets never reach journal.db, logs shown by iejtui, exports or the metrics endpoint.

Pure functions. A secret is found three ways, and every place iejtui stores or shows
outside text goes through them:

* **by label**: argv flags that carry one (``--api-key X``, ``--hf-token=X``; the value of
  ``--header``/``-H`` when the header's name is a credential, e.g. ``Authorization``),
  environment variables whose names say so (see ``is_secret_name``);
* **by inline form** in any text: ``Authorization: Bearer|Basic|token X`` (also ``=`` as
  the bench's ``--header`` takes it), JSON/repr/kwargs ``"api_key": "X"``, ``'token': ['X']``,
  ``password=X``, query values ``?token=X``/``&key=X``/``access_token=X``, and the
  password of ``scheme://user:pass@host`` (user and host stay readable);
* **by shape**, unlabelled: ``hf_…``, ``sk-…`` (``sk-proj-…``), ``ghp_``/``gho_``/``ghu_``/
  ``ghs_``/``ghr_…``, ``github_pat_…``, ``AKIA…``/``ASIA…``, ``xox[abposr]-…``, ``glpat-…``, JWTs.

Decisions (false positives cost readability, false negatives cost a credential):
``*_KEY``/``*_KEYS`` env names are secrets but a name where KEY is not the last word is not
(``KEY_SIZE``, ``API_KEY_FILE`` hold no secret); ``TOKEN`` must be a whole word
(``HF_TOKEN`` yes, ``TOKENIZERS_PARALLELISM`` no); ``PWD`` is the working directory, not a
password. Inline labels must be whole words, so ``max_tokens=128``, ``num_tokens``,
``tokenizer`` and ``--max-num-batched-tokens`` stay; a labelled value that is a bare
number, boolean or null is not treated as a secret (``token: 5`` in a log is a count),
except after ``Authorization``/``Bearer``, in a credential header or as a URL password.
Shapes need a minimum length (``sk-`` also a digit and a word boundary before it, so
``task-…``/``disk-…`` stay); the other prefixes (``AKIA`` + 16) are distinctive enough to match even glued
to the text before them. Whatever follows ``Bearer`` with a digit and 8+ characters is
taken for a credential.
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
# Flags whose value is an HTTP header (``Name: value`` or the bench's ``Name=value``).
HEADER_FLAGS = {"--header", "--headers", "-H", "--http-header", "--extra-header"}
_SECRET_FLAG = re.compile(
    r"(api[-_]?keys?|secret|password|passwd|passphrase|credentials?"
    r"|(^|[-_])(hf|auth|access|bearer|api|id|refresh|session)[-_]token$|(^|[-_])(token|pat|apikey)$)")
# Environment names: words (split on ``_``) that make any name secret, and last words.
_ENV_WORDS = {"TOKEN", "TOKENS", "PASSWD", "PASS", "PASSPHRASE", "CREDENTIAL", "CREDENTIALS", "APIKEY",
              "APIKEYS", "ACCESSTOKEN", "AUTHTOKEN", "COOKIE", "DSN"}
_ENV_LAST = {"KEY", "KEYS", "PAT"}
_ENV_SUBSTR = ("PASSWORD", "SECRET")
_ENV_EXACT = {"DATABASE_URL"}
# Header names whose value is a credential.
_SECRET_HEADER = re.compile(r"(?i)^(?:proxy-)?authorization$|^cookie$|^set-cookie$"
                            r"|(?:^|[-_])(?:api[-_]?key|apikey|token|auth|secret|password|key|session)(?:$|[-_])")

_VALUE_END = r"\s'\",;)}\]<>`&"
# A labelled value that is not a secret: a count, a flag word, null.
_NOT_SECRET = re.compile(r"(?i)^(?:\d{1,7}(?:\.\d+)?|true|false|none|null|nil|\*+)$")
# label (whole word) [quote] [:=] [quote|[] VALUE
_LABEL = (r"(?:api[_-]?keys?|apikey|access[_-]?key|secret[_-]?key|private[_-]?key|client[_-]?secret"
          r"|[a-z0-9]+[_-]token|token|secret|password|passwd|passphrase|credentials?)")
_PATTERNS: list[re.Pattern] = [
    # Authorization: Bearer X / Basic X / token X (also "=" and quoted JSON keys)
    re.compile(r"(?i)\b(?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?(?:(?:bearer|basic|token|digest|apikey)\s+)?"
               rf"(?P<v>[^{_VALUE_END}]+)"),
    # X-Api-Key: X, Cookie: X (header lines)
    re.compile(r"(?i)\b(?:x-)?(?:api-key|auth-token|access-token|cookie)\s*:\s*"
               rf"(?P<v>[^{_VALUE_END}]+)"),
    # Bearer X anywhere (X must look like a credential: a digit in it, 8+ characters)
    re.compile(r"\b(?:Bearer|bearer|BEARER)\s+(?P<v>(?=[A-Za-z0-9._~+/=-]*\d)[A-Za-z0-9._~+/-]{8,}=*)"),
    # "api_key": "X", 'token': ['X'], password=X, api-key: X
    re.compile(rf"(?i)(?<![\w-]){_LABEL}(?![\w-])[\"']?\s*[:=]\s*\[?\s*[\"']?(?P<v>[^{_VALUE_END}]+)"),
    # ?token=X &key=X &access_token=X &sig=X
    re.compile(r"(?i)[?&;](?:[a-z0-9_.-]*[_-])?(?:token|key|apikey|secret|password|passwd|pwd|sig|signature|auth)"
               r"=(?P<v>[^&#\s'\"<>]+)"),
    # scheme://user:PASSWORD@host
    re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://[^\s:/@'\"]*:(?P<v>[^\s/@'\"]+)@"),
    # shapes
    re.compile(r"(?P<v>hf_[A-Za-z0-9]{20,})"),
    re.compile(r"(?<![\w-])(?P<v>sk-(?=[A-Za-z0-9_-]*\d)[A-Za-z0-9_-]{16,})"),
    re.compile(r"(?P<v>gh[pousr]_[A-Za-z0-9]{20,})"),
    re.compile(r"(?P<v>github_pat_[A-Za-z0-9_]{20,})"),
    re.compile(r"(?P<v>(?:AKIA|ASIA)[0-9A-Z]{16,})"),
    re.compile(r"(?P<v>xox[abposr]-[A-Za-z0-9-]{10,})"),
    re.compile(r"(?P<v>glpat-[A-Za-z0-9_-]{20,})"),
    re.compile(r"\b(?P<v>eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,})"),
]

# Generic labels (``token: 5``, ``?key=2``): a bare number, boolean or null there is no secret.
# After ``Authorization``/``Bearer``, as a header value or a URL password, everything is.
_SOFT = {3, 4}


def is_secret_name(name: str) -> bool:
    """An environment variable name that holds a secret: ``*PASSWORD*``, ``*SECRET*``, a
    word TOKEN(S)/PASS/PASSWD/CREDENTIAL(S)/APIKEY/COOKIE/DSN, a last word KEY(S)/PAT,
    ``DATABASE_URL`` (and ``*_DATABASE_URL``)."""
    upper = name.upper()
    words = [w for w in re.split(r"[_\W]+", upper) if w]
    return (any(w in _ENV_WORDS for w in words) or bool(words and words[-1] in _ENV_LAST)
            or any(s in upper for s in _ENV_SUBSTR) or upper in _ENV_EXACT or upper.endswith("_DATABASE_URL"))


def is_secret_flag(flag: str) -> bool:
    """A command-line flag whose value is a secret (--api-key, --hf-token, --token...)."""
    return flag in SECRET_FLAGS or bool(_SECRET_FLAG.search(flag.lstrip("-").lower()))


def is_secret_header(name: str) -> bool:
    """An HTTP header whose value is a credential (Authorization, X-Api-Key, Cookie...)."""
    return bool(_SECRET_HEADER.search(name.strip()))


def _spans(text: str, secrets: list[str] = ()) -> list[tuple[int, int]]:
    """Sorted, merged (start, end) spans of ``text`` that are secrets."""
    spans = []
    for s in secrets:
        if len(s) >= 4:
            start = text.find(s)
            while start >= 0:
                spans.append((start, start + len(s)))
                start = text.find(s, start + len(s))
    for i, pat in enumerate(_PATTERNS):
        for m in pat.finditer(text):
            v = m.group("v")
            if v and v != MASK and not (i in _SOFT and _NOT_SECRET.match(v)):
                spans.append(m.span("v"))
    merged: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    return merged


def find_secrets(text: str) -> list[str]:
    """The secret values ``text`` carries by inline form or by shape (for fingerprints)."""
    return [text[a:b] for a, b in _spans(text)]


def redact_text(text: str, secrets: list[str] = ()) -> str:
    """Mask known secret values, inline forms and token shapes in free text."""
    if not text:
        return text
    spans = _spans(text, list(secrets))
    if not spans:
        return text
    out, pos = [], 0
    for a, b in spans:
        out.append(text[pos:a])
        out.append(MASK)
        pos = b
    out.append(text[pos:])
    return "".join(out)


def _header_value(arg: str) -> tuple[str, list[str]]:
    """``Name: value`` / ``Name=value`` with a credential name -> value masked (a leading
    auth scheme word stays: ``Authorization: Bearer ***``)."""
    m = re.match(r"^(\s*[A-Za-z0-9_-]+\s*[:=]\s*)((?:(?:bearer|basic|token|digest|apikey)\s+)?)(.*)$", arg, re.I)
    if not m or not is_secret_header(re.split(r"[:=]", m.group(1))[0]) or not m.group(3) or m.group(3) == MASK:
        return arg, []
    return m.group(1) + m.group(2) + MASK, [m.group(3)]


def redact_argv(argv: list[str]) -> tuple[list[str], list[str]]:
    """Return (argv with secret values masked, the secret values found).

    By label (secret flags, credential headers after ``--header``/``-H``, including the
    bench's several ``--header K=V K=V``), then by inline form and shape in every word."""
    out: list[str] = []
    secrets: list[str] = []
    hide_next = False
    in_headers = False
    for arg in argv:
        if hide_next:
            secrets.append(arg)
            out.append(MASK)
            hide_next = False
            continue
        flag, eq, value = arg.partition("=")
        if flag.startswith("-") and flag in HEADER_FLAGS:
            in_headers = True
            if eq:
                shown, found = _header_value(value)
                arg = f"{flag}={shown}"
                secrets += found
        elif in_headers and not arg.startswith("-"):
            arg, found = _header_value(arg)
            secrets += found
        elif flag.startswith("-") and is_secret_flag(flag):
            in_headers = False
            if eq:
                secrets.append(value)
                out.append(f"{flag}={MASK}")
            else:
                out.append(arg)
                hide_next = True
            continue
        else:
            in_headers = False
        found = find_secrets(arg)
        secrets += found
        out.append(redact_text(arg, found))
    return out, [s for s in secrets if s and s != MASK]


def redact_env(env: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """Return (env with secret variables masked, the secret values found): by name, then
    inline forms and shapes in the other values (``HTTPS_PROXY=http://u:***@proxy``)."""
    out = {}
    secrets = []
    for k, v in env.items():
        if is_secret_name(k):
            out[k] = MASK
            if v:
                secrets.append(v)
        else:
            found = find_secrets(str(v))
            secrets += found
            out[k] = redact_text(str(v), found) if found else v
    return out, secrets


def redact_url(url: str | None) -> str | None:
    """A URL to store or show: userinfo password, secret query values and token shapes masked."""
    return None if url is None else redact_text(url)


def redact_obj(value):
    """A JSON-like value with every string masked, and every string under a secret key
    (``api_key``, ``HF_TOKEN``, ``password``...) replaced by ``***`` (metrics.json, facts).
    Numbers and containers under such keys stay (``"tokens": {"generated": 5}`` is a count)."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: (MASK if isinstance(k, str) and isinstance(v, str) and v not in ("", MASK)
                    and (is_secret_name(k) or is_secret_flag(k)) and not _NOT_SECRET.match(v)
                    else redact_obj(v)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_obj(v) for v in value]
    return value


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
