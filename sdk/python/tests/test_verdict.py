import sdk_path  # noqa: F401  (first: the SDK under test)

import unittest

from pitwall_check import Outcome, Verdict, failed, inconclusive, passed


class VerdictTests(unittest.TestCase):
    def test_helpers_and_evidence_as_text(self):
        v = failed("db is down", db="down", status=503, cached=False, note=None)
        self.assertEqual(v.outcome, Outcome.FAIL)
        self.assertEqual(v.summary, "db is down")
        self.assertEqual(v.evidence, {"db": "down", "status": "503", "cached": "false", "note": "null"})
        self.assertEqual(list(v.evidence), ["db", "status", "cached", "note"])  # order kept
        self.assertFalse(v.passed)
        self.assertTrue(passed("ok").passed)
        self.assertEqual(inconclusive("no traffic yet").outcome, Outcome.INCONCLUSIVE)

    def test_labels_that_are_not_python_names(self):
        v = passed("ok", summary_words=2).add("latency.p99_ms", 12)
        self.assertEqual(v.evidence["latency.p99_ms"], "12")

    def test_equality_and_repr(self):
        self.assertEqual(passed("ok", a=1), Verdict(Outcome.PASS, "ok", {"a": "1"}))
        self.assertNotEqual(passed("ok"), failed("ok"))
        self.assertEqual(repr(passed("ok", a=1)), "Verdict(pass, 'ok', {'a': '1'})")
        with self.assertRaises(TypeError):
            Verdict("pass", "ok")


if __name__ == "__main__":
    unittest.main()
