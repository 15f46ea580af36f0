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
_TOKEN = re.compile(r"[^\s'\"=,;:()\[\]{}]+")


def fingerprint(secret: str, salt: str) -> str:
    return hashlib.sha256((salt + secret).encode()).hexdigest()


def make_fingerprints(secrets: list[str]) -> dict:
    """A salted-hash record of secret values, safe to keep on disk beside the logs."""
    salt = secrets_module.token_hex(8)
    return {"salt": salt, "hashes": sorted({fingerprint(s, salt) for s in secrets if len(s) >= 4})}


def redact_by_fingerprints(text: str, record: dict | None) -> str:
    """Mask every token of ``text`` whose salted hash is a known secret, then inline secrets."""
    if record and record.get("hashes"):
        salt, hashes = record["salt"], set(record["hashes"])
        text = _TOKEN.sub(lambda m: MASK if fingerprint(m.group(0), salt) in hashes else m.group(0), text)
    return redact_text(text)
