import sdk_path  # noqa: F401  (first: the SDK under test)

import unittest
from dataclasses import dataclass

from pitwall_check import (Check, ConfigError, Context, FakeHost, HostError, Outcome, ServiceImage, export, failed,
                           http, passed, run_check, validate_config)


@dataclass
class Config:
    url: str
    max_queue_depth: int = 10


class Probe(Check):
    name = "probe"
    version = "1.2.0"
    description = "GETs a URL."
    capabilities = ["http"]
    config_type = Config

    def run(self, ctx, config):
        try:
            r = http.get(config.url)
        except HostError as e:
            return failed(f"{config.url}: {e}")
        return (passed if r.ok else failed)(f"{config.url} answered {r.status}", status=r.status, attempt=ctx.attempt)


class ExportTests(unittest.TestCase):
    def test_describe_comes_from_the_attributes(self):
        d = export(Probe)().describe()
        self.assertEqual((d.name, d.version, d.description, d.capabilities), ("probe", "1.2.0", "GETs a URL.", ["http"]))
        # No config_help: the keys of config_type, generated.
        self.assertEqual(d.config_help, "url (string, required), max_queue_depth (integer, default 10)")

    def test_validate_config_refuses_with_the_operators_text(self):
        plugin = export(Probe)()
        plugin.validate_config('{"url": "http://a/"}')
        with self.assertRaises(ConfigError) as e:
            plugin.validate_config('{"url": "http://a/", "max_queu_depth": 1}')
        self.assertEqual(str(e.exception),
                         "unknown configuration key `max_queu_depth` (a typo?); known keys: url, max_queue_depth")

    def test_run_goes_through_the_host(self):
        host = FakeHost().respond("http://a/", status=204)
        with host:
            v = export(Probe)().run(Context(attempt=2), '{"url": "http://a/"}')
        self.assertEqual((v.outcome, v.summary), (Outcome.PASS, "http://a/ answered 204"))
        self.assertEqual(v.evidence, {"status": "204", "attempt": "2"})

    def test_a_config_refused_at_run_time_is_inconclusive(self):
        v = run_check(Probe, {"url": 1})
        self.assertEqual(v.outcome, Outcome.INCONCLUSIVE)
        self.assertEqual(v.summary, "invalid configuration: configuration key `url` must be a string, not the number 1")

    def test_fake_host_run_and_errors(self):
        v = FakeHost().respond("http://a/", error={"timeout": "no answer in 2s"}).run(Probe, {"url": "http://a/"})
        self.assertEqual(v, failed("http://a/: timed out: no answer in 2s"))

    def test_a_run_must_return_a_verdict(self):
        class Sloppy(Check):
            name = "sloppy"

            def run(self, ctx, config):
                return True

        with self.assertRaisesRegex(TypeError, r"Sloppy.run returned bool, not a Verdict"):
            run_check(Sloppy, "")

    def test_plain_value_errors_of_an_override_are_config_errors(self):
        class Picky(Probe):
            def parse_config(self, text):
                config = super().parse_config(text)
                if config.max_queue_depth < 1:
                    raise ValueError("max_queue_depth must be at least 1")
                return config

        with self.assertRaisesRegex(ConfigError, "max_queue_depth must be at least 1"):
            validate_config(Picky, {"url": "a", "max_queue_depth": 0})

    def test_declaration_mistakes_fail_at_import(self):
        def declared(**attrs):
            attrs.setdefault("run", lambda self, ctx, config: passed("ok"))
            return type("Bad", (Check,), attrs)

        cases = [
            (declared(name=""), "Bad.name is empty"),
            (declared(name="x", capabilities="http"), "must be a list"),
            (declared(name="x", capabilities=["net"]), "unknown ['net']; the contract knows http, logs"),
            (type("NoRun", (Check,), {"name": "x"}), "NoRun does not implement run"),
            (declared(name="x", config_type="url"), "a schema is a dataclass"),
        ]
        for check, message in cases:
            with self.assertRaises(TypeError) as e:
                export(check)
            self.assertIn(message, str(e.exception))
        with self.assertRaisesRegex(TypeError, "export\\(\\) takes a Check subclass"):
            export(Probe())


class ContextTests(unittest.TestCase):
    def test_defaults_are_those_of_test_cases(self):
        c = Context()
        self.assertEqual((c.release_id, c.project, c.phase, c.attempt), ("test", "test", "verify", 1))

    def test_images(self):
        c = Context(images=[ServiceImage("api", "registry/api:1.4")])
        self.assertEqual(c.image("api"), "registry/api:1.4")
        self.assertIsNone(c.image("web"))


if __name__ == "__main__":
    unittest.main()
