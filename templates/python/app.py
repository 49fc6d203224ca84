"""{{name}}: a pitwall check.

It GETs a configured URL and passes on the expected status (any 2xx by
default). The decision is `judge`, a plain function that test_app.py runs
under CPython; `Probe.run` only fetches what it judges. ./build.sh turns this
module into {{name}}.wasm.
"""

from dataclasses import dataclass
from typing import Optional

from pitwall_check import Check, Context, HostError, Response, Verdict, export, failed, http, inconclusive, passed


@dataclass
class Config:
    """The configuration: the check's `config` table in pitwall.toml (JSON on
    the command line). Unknown keys are refused by name, so a typo fails at
    deploy preflight instead of falling back to a default."""

    # The URL to probe; grant it with `allow_http`.
    url: str
    # The status expected; None: any 2xx.
    status: Optional[int] = None

    def __post_init__(self):
        # A ValueError here refuses the configuration with this text.
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"url `{self.url}` must start with http:// or https://")


class Probe(Check):
    name = "{{name}}"
    version = "0.1.0"
    description = "GETs a URL and passes on the expected status (any 2xx by default)."
    config_help = '{"url": "http://app:8080/health", "status": 200}  (status optional: default any 2xx)'
    # What the operator must grant: http (allow_http), logs (allow_logs).
    capabilities = ["http"]
    config_type = Config

    def run(self, ctx: Context, config: Config) -> Verdict:
        try:
            response = http.get(config.url)
        except HostError as e:
            # A denied or malformed request is the configuration's fault,
            # not the release's: inconclusive, so no one blames the release.
            if e.kind in ("denied", "invalid"):
                return inconclusive(f"{config.url}: {e}")
            return failed(f"{config.url}: {e}")  # timed out, cannot connect, ...
        return judge(config, response)


def judge(config: Config, response: Response) -> Verdict:
    """Passes on the expected status (any 2xx by default)."""
    ok = response.status == config.status if config.status is not None else response.ok
    verdict = passed if ok else failed
    return verdict(
        f"{config.url} answered {response.status}",
        status=response.status,
        latency_ms=response.elapsed_ms,
    )


# componentize-py exports the contract's `plugin` interface from the class
# named `Plugin` in this module; `export` builds it from `Probe` (on
# `wit_world.exports.Plugin` inside the component, a plain class under CPython).
Plugin = export(Probe)
