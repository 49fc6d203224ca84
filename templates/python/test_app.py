"""Unit tests under plain CPython: `python3 -m unittest`. The decision logic
runs on plain values; `FakeHost` stands in for pitwall's host calls."""

import unittest

from app import Config, Plugin, Probe, judge
from pitwall_check import ConfigError, FakeHost, Outcome, Response


class JudgeTests(unittest.TestCase):
    def test_passes_on_2xx_and_fails_otherwise(self):
        config = Config(url="http://app/health")
        self.assertEqual(judge(config, Response(204)).outcome, Outcome.PASS)
        verdict = judge(config, Response(503, "down"))
        self.assertEqual(verdict.outcome, Outcome.FAIL)
        self.assertEqual(verdict.evidence["status"], "503")

    def test_an_expected_status_is_exact(self):
        config = Config(url="http://app/health", status=200)
        self.assertEqual(judge(config, Response(204)).outcome, Outcome.FAIL)


class RunTests(unittest.TestCase):
    def test_a_run_against_the_fake_host(self):
        host = FakeHost().respond("http://app/health", status=200, json={"status": "ok"})
        verdict = host.run(Probe, {"url": "http://app/health"})
        self.assertEqual(verdict.outcome, Outcome.PASS)
        self.assertEqual(verdict.summary, "http://app/health answered 200")
        self.assertEqual(host.requests[0].method, "GET")

    def test_an_unreachable_url_fails(self):
        host = FakeHost().respond("http://app/health", error={"connect": "connection refused"})
        verdict = host.run(Probe, {"url": "http://app/health"})
        self.assertEqual(verdict.outcome, Outcome.FAIL)
        self.assertIn("cannot connect: connection refused", verdict.summary)


class ConfigTests(unittest.TestCase):
    def test_a_typo_in_the_config_is_named(self):
        with self.assertRaises(ConfigError) as e:
            Plugin().validate_config('{"url": "http://app/", "stauts": 200}')
        self.assertIn("`stauts`", str(e.exception))

    def test_a_url_without_a_scheme_is_refused(self):
        with self.assertRaises(ConfigError) as e:
            Plugin().validate_config('{"url": "app:8080/health"}')
        self.assertIn("must start with http:// or https://", str(e.exception))

    def test_describe(self):
        self.assertEqual(Plugin().describe().capabilities, ["http"])


if __name__ == "__main__":
    unittest.main()
