"""Starting the secrets engine (tests/engines/secrets_engine.py) through a journal's profile.

Shared by the shared-box tests (issue #14 items 1, 2, 8): ``start_secrets_engine(journal)``
writes a profile whose argv and env carry fresh secrets, starts it with ``--wait`` (the
real CPU vLLM behind it) and returns what a test needs to look for them.
"""

from __future__ import annotations

import json
import secrets as _secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path

from helpers import add_profile, cli, free_port

ENGINE = Path(__file__).resolve().parent / "secrets_engine.py"


@dataclass
class SecretsEngine:
    journal: Path
    name: str
    port: int
    child_file: Path                 # the setsid child writes its pid here
    argv_secret: str                 # given as --api-key (visible in the engine's own ps line)
    env_secrets: dict[str, str] = field(default_factory=dict)
    start: object = None             # the CompletedProcess of `engine start --wait`

    @property
    def values(self) -> list[str]:
        """Every secret value the engine keeps printing."""
        return [self.argv_secret, *self.env_secrets.values()]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def secrets_profile(eng: SecretsEngine) -> str:
    argv = [sys.executable, str(ENGINE), "--port", str(eng.port), "--api-key", eng.argv_secret,
            "--child-file", str(eng.child_file)]
    env = ", ".join(f"{k} = {json.dumps(v)}" for k, v in eng.env_secrets.items())
    return (f'\n[engines.{eng.name}]\nkind = "vllm"\nargv = {json.dumps(argv)}\n'
            f"stop_timeout = 20\nenv = {{ {env} }}\n")


def make_secrets_engine(journal: Path, name: str = "sec") -> SecretsEngine:
    """Fresh secrets (one with ``:`` and ``=`` in it) and a free port; nothing started."""
    tag = _secrets.token_hex(6)
    return SecretsEngine(
        journal=journal, name=name, port=free_port(),
        child_file=journal / f"{name}-setsid-child.pid",
        argv_secret=f"sk-argv{tag}Q",
        env_secrets={"HF_TOKEN": f"hf_envtok{tag}Z", "SERVICE_PASSWORD": f"pa:ss=w{tag}:x=y"})


def start_secrets_engine(journal: Path, name: str = "sec", timeout: float = 600) -> SecretsEngine:
    """Add the profile and `iejtui engine start NAME --wait`; fail with its output if it does not."""
    eng = make_secrets_engine(journal, name)
    add_profile(journal, secrets_profile(eng))
    eng.start = cli(journal, "engine", "start", name, "--wait", timeout=timeout)
    assert eng.start.returncode == 0, f"{eng.start.stdout}\n{eng.start.stderr}"
    return eng
