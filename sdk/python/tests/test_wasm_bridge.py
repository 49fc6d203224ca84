"""The bridge to the real host (`pitwall_check._wasm`), against stand-ins for
the modules componentize-py 0.25 generates (same names and shapes as
`componentize-py -d wit -w check bindings OUT`). The component build is the
real test; this catches a broken conversion without building one."""

import sdk_path  # noqa: F401  (first: the SDK under test)

import enum
import importlib
import sys
import types
import unittest
from dataclasses import dataclass
from typing import List, Optional

from pitwall_check import Check, HostError, failed, http, log, passed, stack


def _bindings():
    @dataclass(frozen=True)
    class Err(Exception):
        value: object

    m = {name: types.ModuleType(name) for name in [
        "componentize_py_types", "wit_world", "wit_world.exports", "wit_world.imports",
        "wit_world.imports.http", "wit_world.imports.log", "wit_world.imports.stack", "wit_world.imports.types"]}
    m["componentize_py_types"].Err = Err

    class Plugin:  # the generated Protocol
        pass

    m["wit_world.exports"].Plugin = Plugin

    h = m["wit_world.imports.http"]
    for name in ["Denied", "Timeout", "Connect", "Invalid", "Other"]:
        setattr(h, f"Error_{name}", dataclass(type(f"Error_{name}", (), {"__annotations__": {"value": str}})))
    h.Header = dataclass(type("Header", (), {"__annotations__": {"name": str, "value": str}}))

    @dataclass
    class Request:
        method: str
        url: str
        headers: list
        body: Optional[bytes]
        timeout_ms: Optional[int]
        follow_redirects: bool

    @dataclass
    class Response:
        status: int
        headers: list
        body: bytes
        truncated: bool
        elapsed_ms: int

    h.Request, h.Response = Request, Response
    h.sent = []

    def send(req):
        h.sent.append(req)
        if req.url.endswith("/denied"):
            raise Err(h.Error_Denied("not under any allow_http prefix"))
        return Response(200, [h.Header("Content-Type", "application/json")], b'{"db": "ok"}', False, 7)

    h.send = send

    lg = m["wit_world.imports.log"]
    lg.Level = enum.Enum("Level", {"DEBUG": 0, "INFO": 1, "WARN": 2, "ERROR": 3})
    lg.written = []
    lg.write = lambda level, message: lg.written.append((level, message))

    st = m["wit_world.imports.stack"]

    @dataclass
    class Container:
        service: str
        name: str
        image: str
        state: str
        health: Optional[str]
        restart_count: int

    st.Container = Container
    st.containers = lambda: [Container("api", "api-1", "img", "running", None, 2)]

    def logs(service, since_ms, until_ms, max_lines):
        if service != "api":
            raise Err(f"service {service} is not granted")
        return "a\nb\n"

    st.logs = logs

    t = m["wit_world.imports.types"]
    t.Outcome = enum.Enum("Outcome", {"PASS": 0, "FAIL": 1, "INCONCLUSIVE": 2})
    t.Evidence = dataclass(type("Evidence", (), {"__annotations__": {"label": str, "value": str}}))

    @dataclass
    class Verdict:
        outcome: object
        summary: str
        evidence: List[object]

    @dataclass
    class Descriptor:
        name: str
        version: str
        description: str
        config_help: str
        capabilities: List[str]

    @dataclass
    class Context:
        release_id: str
        project: str
        images: list
        started_at_ms: int
        now_ms: int
        attempt: int
        phase: str

    t.Verdict, t.Descriptor, t.Context = Verdict, Descriptor, Context
    t.ServiceImage = dataclass(type("ServiceImage", (), {"__annotations__": {"service": str, "image": str}}))
    return m


class Probe(Check):
    name = "probe"
    capabilities = ["http", "logs"]
    config_type = {"url": str}

    def run(self, ctx, config):
        try:
            r = http.get(config["url"], headers={"accept": "application/json"})
        except HostError as e:
            return failed(str(e), image=ctx.image("api"))
        log.warn("checked")
        return passed(f"db {r.json()['db']}", lines=len(stack.logs("api", ctx.started_at_ms).splitlines()))


class BridgeTests(unittest.TestCase):
    def setUp(self):
        self.m = _bindings()
        saved = {name: sys.modules.get(name) for name in list(self.m) + ["pitwall_check._wasm"]}
        sys.modules.update(self.m)
        sys.modules.pop("pitwall_check._wasm", None)

        def restore():
            for name, module in saved.items():
                if module is None:
                    sys.modules.pop(name, None)
                else:
                    sys.modules[name] = module

        self.addCleanup(restore)
        # A fresh import, bound to this test's stand-ins.
        _wasm = importlib.import_module("pitwall_check._wasm")
        from pitwall_check import _host

        self.wasm = _wasm
        previous = _host.install(_wasm.WasmHost())
        self.addCleanup(_host.install, previous)
        self.plugin = _wasm.plugin_class(Probe)()
        self.t = self.m["wit_world.imports.types"]

    def ctx(self):
        return self.t.Context("r1", "shop", [self.t.ServiceImage("api", "registry/api:1.4")], 1000, 2000, 1, "verify")

    def test_the_export_is_the_generated_protocol(self):
        self.assertIsInstance(self.plugin, self.m["wit_world.exports"].Plugin)
        d = self.plugin.describe()
        self.assertIsInstance(d, self.t.Descriptor)
        self.assertEqual((d.name, d.capabilities, d.config_help), ("probe", ["http", "logs"], "url (string, required)"))

    def test_a_refused_config_is_an_err_with_the_text(self):
        Err = self.m["componentize_py_types"].Err
        self.assertIsNone(self.plugin.validate_config('{"url": "http://a/"}'))
        with self.assertRaises(Err) as e:
            self.plugin.validate_config('{"ur": "http://a/"}')
        self.assertEqual(e.exception.value, "unknown configuration key `ur` (a typo?); known keys: url; "
                                            "missing configuration key `url` (a string)")

    def test_run_converts_both_ways(self):
        v = self.plugin.run(self.ctx(), '{"url": "http://a/health"}')
        self.assertIsInstance(v, self.t.Verdict)
        self.assertEqual(v.outcome, self.t.Outcome.PASS)
        self.assertEqual(v.summary, "db ok")
        self.assertEqual([(e.label, e.value) for e in v.evidence], [("lines", "2")])
        sent = self.m["wit_world.imports.http"].sent[0]
        self.assertEqual((sent.method, sent.body, sent.timeout_ms, sent.follow_redirects), ("GET", None, None, False))
        self.assertEqual([(h.name, h.value) for h in sent.headers], [("accept", "application/json")])
        self.assertEqual(self.m["wit_world.imports.log"].written, [(self.m["wit_world.imports.log"].Level.WARN, "checked")])

    def test_host_errors_read_as_sentences(self):
        v = self.plugin.run(self.ctx(), '{"url": "http://a/denied"}')
        self.assertEqual(v.outcome, self.t.Outcome.FAIL)
        self.assertEqual(v.summary, "denied: not under any allow_http prefix")
        self.assertEqual([(e.label, e.value) for e in v.evidence], [("image", "registry/api:1.4")])

    def test_stack_calls(self):
        host = self.wasm.WasmHost()
        c = host.stack_containers()[0]
        self.assertEqual((c.service, c.restart_count, c.health), ("api", 2, None))
        with self.assertRaises(HostError) as e:
            host.stack_logs("web", 0, None, 10)
        self.assertEqual((e.exception.kind, str(e.exception)), ("stack", "service web is not granted"))


if __name__ == "__main__":
    unittest.main()
