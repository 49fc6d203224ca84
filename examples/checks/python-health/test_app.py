"""Unit tests under plain CPython: `python3 -m unittest` (with pitwall_check
importable: pip install ../../../sdk/python)."""

import unittest

from app import Config, Health, Plugin, PythonHealth, judge
from pitwall_check import ConfigError, FakeHost, Outcome

CONFIG = {"url": "http://app/health", "max_queue_depth": 10}


def judged(db, queue_depth):
    return judge(Config(url="http://app/health", max_queue_depth=10), Health(db=db, queue_depth=queue_depth))


class JudgeTests(unittest.TestCase):
    def test_healthy_below_the_limit_passes(self):
        verdict = judged("ok", 9)
        self.assertEqual(verdict.outcome, Outcome.PASS)
        self.assertEqual(verdict.summary, "db ok, queue depth 9 below 10")

    def test_db_down_or_queue_at_the_limit_fails(self):
        self.assertEqual(judged("down", 0).summary, 'db is "down"')
        verdict = judged("ok", 10)
        self.assertEqual(verdict.outcome, Outcome.FAIL)
        self.assertEqual(verdict.evidence["queue_depth"], "10")


class RunTests(unittest.TestCase):
    def test_evidence_shows_db_queue_depth_and_status(self):
        host = FakeHost().respond("http://app/health", json={"db": "ok", "queue_depth": 3, "version": "1.4"})
        verdict = host.run(PythonHealth, CONFIG)
        self.assertEqual(verdict.outcome, Outcome.PASS)
        self.assertEqual(verdict.evidence, {"db": "ok", "queue_depth": "3", "status": "200"})
        self.assertEqual(host.requests[0].header("accept"), "application/json")

    def test_an_error_status_fails_without_reading_the_body(self):
        verdict = FakeHost().respond("http://app/health", 500, "Internal Server Error").run(PythonHealth, CONFIG)
        self.assertEqual((verdict.outcome, verdict.summary), (Outcome.FAIL, "http://app/health answered 500"))

    def test_a_body_of_the_wrong_shape_fails_naming_the_key(self):
        host = FakeHost().respond("http://app/health", json={"db": "ok", "queue_depth": "3"})
        verdict = host.run(PythonHealth, CONFIG)
        self.assertEqual(verdict.outcome, Outcome.FAIL)
        self.assertIn('body key `queue_depth` must be an integer, not a string ("3")', verdict.summary)

    def test_unreachable_fails(self):
        host = FakeHost().respond("http://app/health", error={"connect": "connection refused"})
        self.assertEqual(host.run(PythonHealth, CONFIG).summary, "http://app/health: cannot connect: connection refused")


class ConfigTests(unittest.TestCase):
    def test_unknown_keys_are_refused_by_name(self):
        with self.assertRaises(ConfigError) as e:
            Plugin().validate_config('{"url": "http://a/", "max_queu_depth": 1}')
        self.assertIn("unknown configuration key `max_queu_depth` (a typo?); known keys: url, max_queue_depth",
                      str(e.exception))

    def test_wrong_types_and_values_are_refused(self):
        with self.assertRaisesRegex(ConfigError, "`max_queue_depth` must be an integer"):
            Plugin().validate_config('{"url": "http://a/", "max_queue_depth": "10"}')
        with self.assertRaisesRegex(ConfigError, "max_queue_depth must be at least 1, not 0"):
            Plugin().validate_config('{"url": "http://a/", "max_queue_depth": 0}')


if __name__ == "__main__":
    unittest.main()
