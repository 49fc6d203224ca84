import sdk_path  # noqa: F401  (first: the SDK under test)

import unittest
from dataclasses import dataclass

from pitwall_check import ConfigError, FakeHost, HostError, Response, http


@dataclass
class Health:
    db: str
    queue_depth: int


class RequestTests(unittest.TestCase):
    def setUp(self):
        self.host = FakeHost().respond("http://app/health", json={"db": "ok"})
        self.host.respond("http://app/login", method="POST", status=201)
        self.host.__enter__()
        self.addCleanup(self.host.__exit__)

    def test_defaults(self):
        r = http.get("http://app/health")
        self.assertEqual(r.status, 200)
        sent = self.host.requests[0]
        self.assertEqual((sent.method, sent.url, sent.headers), ("GET", "http://app/health", []))
        self.assertIsNone(sent.body)
        self.assertIsNone(sent.timeout_ms)
        self.assertFalse(sent.follow_redirects)

    def test_options(self):
        http.get("http://app/health", headers={"Accept": "application/json"}, timeout_ms=2000, follow_redirects=True)
        sent = self.host.requests[0]
        self.assertEqual(sent.header("accept"), "application/json")
        self.assertEqual((sent.timeout_ms, sent.follow_redirects), (2000, True))
        http.request("post", "http://app/login", json={"user": "probe"}, headers=[("x-a", "1")])
        sent = self.host.requests[1]
        self.assertEqual(sent.method, "POST")
        self.assertEqual(sent.json(), {"user": "probe"})
        self.assertEqual(sent.headers, [("x-a", "1"), ("content-type", "application/json")])
        http.post("http://app/login", body="a=1", headers={"Content-Type": "text/plain"})
        self.assertEqual(self.host.requests[2].body, b"a=1")

    def test_mistakes_are_refused_before_sending(self):
        with self.assertRaisesRegex(ValueError, "either body= or json="):
            http.post("http://app/login", body="x", json={})
        with self.assertRaisesRegex(ValueError, "timeout_ms must be a whole number"):
            http.get("http://app/health", timeout_ms=1.5)
        with self.assertRaisesRegex(TypeError, "a header is a pair of strings"):
            http.get("http://app/health", headers={"x": 1})
        self.assertEqual(self.host.requests, [])


class NoHostTests(unittest.TestCase):
    def test_says_how_to_get_a_host(self):
        with self.assertRaisesRegex(RuntimeError, r"with pitwall_check.FakeHost\(\) as host"):
            http.get("http://app/")


class ResponseTests(unittest.TestCase):
    def test_helpers(self):
        r = Response(200, '{"db": "ok", "queue_depth": 3}', {"Content-Type": "application/json"})
        self.assertTrue(r.ok)
        self.assertEqual(r.text(), '{"db": "ok", "queue_depth": 3}')
        self.assertEqual(r.json()["db"], "ok")
        self.assertEqual(r.json(Health), Health("ok", 3))
        self.assertFalse(Response(302).ok)

    def test_headers_are_case_insensitive(self):
        r = Response(200, headers=[("Set-Cookie", "a=1"), ("set-cookie", "b=2"), ("Content-Type", "text/plain")])
        self.assertEqual(r.headers["content-type"], "text/plain")
        self.assertEqual(r.headers.get("CONTENT-TYPE"), "text/plain")
        self.assertIn("content-TYPE", r.headers)
        self.assertNotIn("etag", r.headers)
        self.assertIsNone(r.headers.get("etag"))
        self.assertEqual(r.headers.get_all("set-cookie"), ["a=1", "b=2"])
        self.assertEqual(list(r.headers), ["Set-Cookie", "Content-Type"])
        self.assertEqual(len(r.headers), 2)

    def test_json_bodies(self):
        r = Response(200, json={"a": [1]})
        self.assertEqual(r.headers["content-type"], "application/json")
        self.assertEqual(r.json(), {"a": [1]})

    def test_a_body_that_is_not_json_says_how_it_starts(self):
        with self.assertRaises(ValueError) as e:
            Response(502, "<html>bad gateway").json()
        self.assertIn("the body is not JSON", str(e.exception))
        self.assertIn("it starts '<html>bad gateway'", str(e.exception))
        with self.assertRaises(ValueError) as e:
            Response(200, '{"db": "o', truncated=True).json()
        self.assertIn("(the body was cut at the host's cap)", str(e.exception))

    def test_a_body_of_the_wrong_shape_names_the_key(self):
        with self.assertRaises(ConfigError) as e:
            Response(200, json={"db": "ok", "queue_depth": "3", "new_field": 1}).json(Health)
        self.assertEqual(str(e.exception), 'body key `queue_depth` must be an integer, not a string ("3")')


class HostErrorTests(unittest.TestCase):
    def test_reads_as_a_sentence(self):
        cases = {
            "denied": "denied: not under any allow_http prefix",
            "timeout": "timed out: not under any allow_http prefix",
            "connect": "cannot connect: not under any allow_http prefix",
            "invalid": "invalid request: not under any allow_http prefix",
            "other": "not under any allow_http prefix",
        }
        host = "http GET http://x/ denied: not under any allow_http prefix"
        self.assertEqual(str(HostError("denied", host)), host, "not said twice")
        for kind, text in cases.items():
            e = HostError(kind, "not under any allow_http prefix")
            self.assertEqual(str(e), text)
            self.assertEqual(e.kind, kind)
            self.assertNotIn("Error_", str(e))
        self.assertEqual(repr(HostError("timeout", "2s")), "HostError('timeout', '2s')")
        with self.assertRaises(ValueError):
            HostError("nope", "x")


if __name__ == "__main__":
    unittest.main()
