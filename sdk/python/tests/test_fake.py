import sdk_path  # noqa: F401  (first: the SDK under test)

import contextlib
import io
import unittest

from pitwall_check import FakeHost, HostError, http, log, stack
from pitwall_check import _host


class FakeHostTests(unittest.TestCase):
    def test_answers_in_order_then_repeats_the_last(self):
        host = FakeHost().respond("http://a/", status=503).respond("http://a/", status=200)
        with host:
            self.assertEqual([http.get("http://a/").status for _ in range(3)], [503, 200, 200])
        self.assertEqual(len(host.requests), 3)

    def test_matches_the_method(self):
        host = FakeHost().respond("http://a/", method="post", status=201)
        with host:
            self.assertEqual(http.post("http://a/").status, 201)
            with self.assertRaises(HostError) as e:
                http.get("http://a/")
        self.assertEqual(e.exception.kind, "other")
        self.assertIn('no canned answer for GET http://a/ (add one with host.respond("http://a/", ...); canned: POST http://a/)',
                      str(e.exception))

    def test_canned_errors(self):
        host = FakeHost().respond("http://a/", error={"connect": "connection refused"})
        with host, self.assertRaises(HostError) as e:
            http.get("http://a/")
        self.assertEqual(str(e.exception), "cannot connect: connection refused")
        with self.assertRaises(ValueError):
            FakeHost().respond("http://a/", error={"nope": "x"})
        with self.assertRaises(ValueError):
            FakeHost().respond("http://a/", error="timeout")

    def test_logs_and_containers(self):
        host = FakeHost().add_logs("api", ["GET / 200", "GET / 500\n", "GET / 200"])
        host.add_container("api", health="healthy").add_container("db", state="exited", restart_count=3)
        with host:
            self.assertEqual(stack.logs("api", since_ms=5), "GET / 200\nGET / 500\nGET / 200\n")
            self.assertEqual(stack.logs("api", 0, max_lines=1), "GET / 200\n")
            with self.assertRaisesRegex(HostError, "no logs for service `web`"):
                stack.logs("web", 0)
            found = stack.containers()
        self.assertEqual([(c.service, c.state, c.health, c.restart_count) for c in found],
                         [("api", "running", "healthy", 0), ("db", "exited", None, 3)])
        self.assertEqual(found[0].name, "api-1")
        self.assertEqual(host.calls[0], ("stack.logs", "api", 5, None, 10_000))
        self.assertEqual(host.calls[-1], ("stack.containers",))

    def test_open_logs_streams_the_window_in_chunks(self):
        lines = [f"GET /{i} 200" for i in range(50_000)]
        host = FakeHost().add_logs("api", lines)
        with host:
            chunks = list(stack.open_logs("api", since_ms=5, until_ms=9))
            with self.assertRaisesRegex(HostError, "no logs for service `web`"):
                list(stack.open_logs("web", 0))
        self.assertGreater(len(chunks), 1)
        self.assertTrue(all(len(c) <= stack.CHUNK_BYTES and c.endswith("\n") for c in chunks))
        self.assertEqual("".join(chunks).splitlines(), lines)
        self.assertEqual(host.calls[0], ("stack.open_logs", "api", 5, 9))

    def test_records_log_lines(self):
        host = FakeHost()
        with host:
            log.info("probing")
            log.warn("slow")
        self.assertEqual(host.messages, [("info", "probing"), ("warn", "slow")])
        with self.assertRaises(ValueError):
            log.write("loud", "x")

    def test_without_a_host_logs_go_to_stderr(self):
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            log.error("boom")
        self.assertEqual(err.getvalue(), "[error] boom\n")

    def test_nesting_restores_the_previous_host(self):
        outer, inner = FakeHost(), FakeHost()
        with outer:
            with inner:
                self.assertIs(_host.current(), inner)
            self.assertIs(_host.current(), outer)
        self.assertIsNone(_host.current_or_none())


if __name__ == "__main__":
    unittest.main()
