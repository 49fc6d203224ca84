"""A check: a few declared attributes, a configuration schema and `run`.

    class DbHealth(Check):
        name = "db-health"
        version = "0.1.0"
        description = "The health endpoint says the database is up."
        capabilities = ["http"]
        config_type = Config          # a dataclass (or a dict schema)

        def run(self, ctx, config):
            ...
            return passed("db ok", db="ok")

    Plugin = export(DbHealth)         # componentize-py looks for `Plugin`

`validate_config` and `run_check` are what the component export calls; tests
call them too, so a unit test goes through the same path as pitwall.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, List, Optional, Sequence, Type

from . import _host, config as _config
from .verdict import Verdict, inconclusive

__all__ = ["Check", "Context", "ServiceImage", "Descriptor", "describe", "validate_config", "run_check", "export"]

CAPABILITIES = ("http", "logs")


@dataclass
class ServiceImage:
    service: str
    # As deployed, e.g. `registry/api:1.4` or `…@sha256:…`.
    image: str


@dataclass
class Context:
    """The release a run verifies. The defaults are those of `pitwall check
    test` cases. Time comes from the host: decide nothing from the clock."""

    release_id: str = "test"
    project: str = "test"
    images: List[ServiceImage] = field(default_factory=list)
    # When the rollout started, and this attempt, in ms since the Unix epoch.
    started_at_ms: int = 0
    now_ms: int = 0
    # 1 for the first attempt, then 2, 3, ...
    attempt: int = 1
    # `verify` (gates the release), `watch` (soak window) or `standalone`.
    phase: str = "verify"

    def image(self, service: str) -> Optional[str]:
        """The image of `service` in this release, if it has one."""
        return next((i.image for i in self.images if i.service == service), None)

    @classmethod
    def from_host(cls, ctx: Any) -> "Context":
        return cls(
            release_id=ctx.release_id,
            project=ctx.project,
            images=[ServiceImage(i.service, i.image) for i in ctx.images],
            started_at_ms=ctx.started_at_ms,
            now_ms=ctx.now_ms,
            attempt=ctx.attempt,
            phase=ctx.phase,
        )


@dataclass
class Descriptor:
    name: str
    version: str
    description: str
    config_help: str
    capabilities: List[str]


class Check:
    """Subclass it, set the attributes, implement `run`."""

    # Short name, e.g. `db-health`.
    name: str = ""
    # The check's own version.
    version: str = "0.1.0"
    # One paragraph: what it checks.
    description: str = ""
    # How to configure it (`pitwall check inspect` shows it); default: the
    # keys of `config_type`, generated.
    config_help: str = ""
    # What the operator must grant: `http` (allow_http), `logs` (allow_logs).
    capabilities: Sequence[str] = ()
    # The configuration schema: a dataclass, or a dict of key -> type /
    # (type, default). None: the check takes no configuration keys.
    config_type: Any = None

    def parse_config(self, text: str) -> Any:
        """The configuration text, parsed. Override it to add checks across
        keys (raise ConfigError); single-key checks fit in the dataclass's
        `__post_init__` (raise ValueError)."""
        return _config.parse(text, self.config_type)

    def run(self, ctx: Context, config: Any) -> Verdict:
        """One probe: returns one verdict; does not loop or sleep (the host
        owns retries and time)."""
        raise NotImplementedError(f"{type(self).__name__}.run: return passed(...), failed(...) or inconclusive(...)")


def describe(check: Type[Check]) -> Descriptor:
    """What `describe` answers, from the class's attributes."""
    return Descriptor(
        name=check.name,
        version=check.version,
        description=check.description,
        config_help=check.config_help or _config.describe(check.config_type),
        capabilities=list(check.capabilities),
    )


def validate_config(check: Type[Check], config: Any) -> None:
    """Raises ConfigError (a ValueError) when `config` (JSON text, or a dict
    for tests) is refused, with the text the operator will see."""
    try:
        check().parse_config(_text(config))
    except _config.ConfigError:
        raise
    except ValueError as e:  # an override that raised a plain ValueError
        raise _config.ConfigError(str(e)) from None


def run_check(check: Type[Check], config: Any, ctx: Optional[Context] = None) -> Verdict:
    """Parses `config` (JSON text, or a dict for tests) and runs the check once
    against whatever host is installed (pitwall, or a FakeHost)."""
    instance = check()
    try:
        parsed = instance.parse_config(_text(config))
    except ValueError as e:
        # pitwall validated it before the deploy; a change since is not the
        # release's fault (the Rust SDK says the same).
        return inconclusive(f"invalid configuration: {e}")
    verdict = instance.run(ctx if ctx is not None else Context(), parsed)
    if not isinstance(verdict, Verdict):
        raise TypeError(
            f"{check.__name__}.run returned {type(verdict).__name__}, not a Verdict: "
            "return passed(...), failed(...) or inconclusive(...)"
        )
    return verdict


def export(check: Type[Check]) -> type:
    """The class componentize-py exports as the contract's `plugin` interface:
    bind it to the name `Plugin` in the app module (`Plugin = export(MyCheck)`).

    Inside the component it implements `wit_world.exports.Plugin` and converts
    to and from the generated types. Under CPython it has the same three
    methods on plain values (validate_config raises ConfigError), so the app
    module imports and its wire surface can be tested without the bindings.
    """
    _check_declaration(check)
    if _host.IN_COMPONENT:
        from . import _wasm

        return _wasm.plugin_class(check)

    class Plugin:
        def describe(self) -> Descriptor:
            return describe(check)

        def validate_config(self, config: str) -> None:
            validate_config(check, config)

        def run(self, ctx: Context, config: str) -> Verdict:
            return run_check(check, config, ctx)

    return Plugin


def _check_declaration(check: Any) -> None:
    """Mistakes in the declaration fail when the module is imported: at build
    time (componentize-py imports the app) and in unit tests."""
    if not (isinstance(check, type) and issubclass(check, Check)):
        raise TypeError(f"export() takes a Check subclass, not {check!r}")
    where = f"{check.__name__}"
    if not check.name:
        raise TypeError(f"{where}.name is empty: set it to the check's name, e.g. name = \"db-health\"")
    if isinstance(check.capabilities, str):
        raise TypeError(f"{where}.capabilities must be a list, e.g. [\"http\"], not the string {check.capabilities!r}")
    unknown = [c for c in check.capabilities if c not in CAPABILITIES]
    if unknown:
        raise TypeError(f"{where}.capabilities: unknown {unknown!r}; the contract knows {', '.join(CAPABILITIES)}")
    if check.run is Check.run:
        raise TypeError(f"{where} does not implement run(self, ctx, config)")
    _config.describe(check.config_type)  # a bad schema fails here, not on the first run


def _text(config: Any) -> str:
    return config if isinstance(config, str) else json.dumps(config)
