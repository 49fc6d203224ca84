"""python-health: a JSON health endpoint says the database is up and its
queue is short: `db == "ok"` and `queue_depth` below a configured limit.

Written with `pitwall check new python-health --lang python` and the
pitwall-check SDK, like examples/checks/rust-health in Rust. `judge` holds
the decision; test_app.py runs it under CPython.
"""

import json
from dataclasses import dataclass

from pitwall_check import Check, Context, HostError, Verdict, export, failed, http, passed


@dataclass
class Config:
    # The health endpoint; grant it with `allow_http`.
    url: str
    # The queue depth must stay below this.
    max_queue_depth: int

    def __post_init__(self):
        if self.max_queue_depth < 1:
            raise ValueError(f"max_queue_depth must be at least 1, not {self.max_queue_depth}")


@dataclass
class Health:
    """What the endpoint answers (other keys it sends are ignored)."""

    db: str
    queue_depth: int


class PythonHealth(Check):
    name = "python-health"
    version = "0.1.0"
    description = 'A JSON health endpoint says db == "ok" and its queue_depth is below a limit.'
    config_help = '{"url": "http://app:8080/health", "max_queue_depth": 100}'
    capabilities = ["http"]
    config_type = Config

    def run(self, ctx: Context, config: Config) -> Verdict:
        try:
            response = http.get(config.url, headers={"accept": "application/json"})
        except HostError as e:
            return failed(f"{config.url}: {e}")
        if not response.ok:
            return failed(f"{config.url} answered {response.status}", status=response.status)
        try:
            health = response.json(Health)
        except ValueError as e:  # not JSON, or not the shape of Health (ConfigError)
            return failed(f"{config.url}: {e}", status=response.status)
        return judge(config, health).add("status", response.status)


def judge(config: Config, health: Health) -> Verdict:
    if health.db != "ok":
        verdict = failed(f"db is {json.dumps(health.db)}")
    elif health.queue_depth >= config.max_queue_depth:
        verdict = failed(f"queue depth {health.queue_depth} is not below {config.max_queue_depth}")
    else:
        verdict = passed(f"db ok, queue depth {health.queue_depth} below {config.max_queue_depth}")
    return verdict.add("db", health.db).add("queue_depth", health.queue_depth)


# componentize-py exports the contract's `plugin` interface from the class
# named `Plugin` in this module.
Plugin = export(PythonHealth)
