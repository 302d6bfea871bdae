"""``halo serve``'s settings, checked before anything starts."""

from __future__ import annotations

import ipaddress
import os

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from halo_core import ConfigError

#: The environment variable a bearer token may come from (so it stays out of ``ps``).
TOKEN_ENV = "HALO_SERVE_TOKEN"


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ServeConfig(BaseModel):
    """How ``halo serve`` listens and admits runs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(2024, ge=0, le=65535, description="0 = any free port")
    token: SecretStr | None = Field(
        None,
        description=f"bearer token every request must carry (default: ${TOKEN_ENV}); required "
        "when listening beyond loopback",
    )
    live: int | None = Field(
        None,
        ge=1,
        description="runs executing at once (each a live Halo instance); default: the session's "
        "max_live_instances",
    )
    queued: int = Field(1024, ge=0, description="runs waiting for a slot; beyond them: 429")
    deadline_s: float | None = Field(
        300.0, gt=0, description="a run still unfinished this long after it arrived fails (504)"
    )
    drain_s: float = Field(
        60.0, ge=0, description="on SIGTERM, how long accepted runs may take to finish"
    )
    kept_runs: int = Field(
        10_000, ge=1, description="finished background runs kept for /join (oldest dropped)"
    )

    @model_validator(mode="before")
    @classmethod
    def _token_from_env(cls, data: object) -> object:
        if isinstance(data, dict) and data.get("token") is None and os.environ.get(TOKEN_ENV):
            return {**data, "token": os.environ[TOKEN_ENV]}
        return data

    @model_validator(mode="after")
    def _token_beyond_loopback(self) -> ServeConfig:
        if self.token is None and not is_loopback(self.host):
            raise ConfigError(
                f"listening on {self.host!r} (beyond loopback) needs a bearer token: pass "
                f"--token or set ${TOKEN_ENV}, or listen on 127.0.0.1"
            )
        if self.token is not None and not self.token.get_secret_value():
            raise ConfigError(f"the bearer token is empty: set --token or ${TOKEN_ENV}")
        return self
