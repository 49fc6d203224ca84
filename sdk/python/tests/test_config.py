import sdk_path  # noqa: F401  (first: the SDK under test)

import unittest
from dataclasses import dataclass, field
from typing import Dict, List, Literal, Optional

from pitwall_check import ConfigError, parse_config
from pitwall_check.config import describe


@dataclass
class Config:
    url: str
    max_queue_depth: int = 100


@dataclass
class Step:
    url: str
    timeout_ms: Optional[int] = None


@dataclass
class Flow:
    steps: List[Step]
    mode: Literal["all", "any"] = "all"
    ratio: float = 0.5
    labels: Dict[str, str] = field(default_factory=dict)
    verbose: bool = False


@dataclass
class Checked:
    url: str

    def __post_init__(self):
        if not self.url.startswith("http"):
            raise ValueError(f"url `{self.url}` must start with http:// or https://")


class ParseTests(unittest.TestCase):
    def error(self, text, schema=Config):
        with self.assertRaises(ConfigError) as e:
            parse_config(text, schema)
        return str(e.exception)

    def test_parses_into_a_dataclass_with_defaults(self):
        c = parse_config('{"url": "http://a/"}', Config)
        self.assertEqual(c, Config("http://a/", 100))
        c = parse_config({"url": "http://a/", "max_queue_depth": 7}, Config)
        self.assertEqual(c.max_queue_depth, 7)

    def test_an_unknown_key_is_named_with_the_known_ones(self):
        self.assertEqual(
            self.error('{"url": "http://a/", "max_queu_depth": 3}'),
            "unknown configuration key `max_queu_depth` (a typo?); known keys: url, max_queue_depth",
        )
        self.assertEqual(
            self.error('{"url": "x", "a": 1, "b": 2}'),
            "unknown configuration keys `a`, `b` (typos?); known keys: url, max_queue_depth",
        )

    def test_a_misspelt_required_key_names_the_typo_first(self):
        self.assertEqual(
            self.error('{"urll": "http://a/"}'),
            "unknown configuration key `urll` (a typo?); known keys: url, max_queue_depth; "
            "missing configuration key `url` (a string)",
        )

    def test_wrong_types_say_what_was_expected(self):
        self.assertEqual(
            self.error('{"url": "x", "max_queue_depth": "ten"}'),
            'configuration key `max_queue_depth` must be an integer, not a string ("ten")',
        )
        self.assertIn("must be an integer, not true", self.error('{"url": "x", "max_queue_depth": true}'))
        self.assertIn("must be a string, not the number 3", self.error('{"url": 3}'))
        self.assertIn("must be an integer, not the number 1.5", self.error('{"url": "x", "max_queue_depth": 1.5}'))
        # 10.0 is an integer that went through a float (TOML, JSON encoders).
        self.assertEqual(parse_config('{"url": "x", "max_queue_depth": 10.0}', Config).max_queue_depth, 10)

    def test_nested_paths(self):
        e = self.error('{"steps": [{"url": "a"}, {"url": "b", "timout_ms": 5}]}', Flow)
        self.assertEqual(e, "unknown configuration key `steps[1].timout_ms` (a typo?); known keys there: url, timeout_ms")
        e = self.error('{"steps": [{"url": "a", "timeout_ms": "5s"}]}', Flow)
        self.assertEqual(e, 'configuration key `steps[0].timeout_ms` must be an integer or null, not a string ("5s")')
        f = parse_config('{"steps": [{"url": "a", "timeout_ms": null}], "ratio": 1, "labels": {"a": "b"}}', Flow)
        self.assertEqual(f.steps, [Step("a", None)])
        self.assertEqual((f.ratio, f.labels, f.mode), (1.0, {"a": "b"}, "all"))
        self.assertIsInstance(f.ratio, float)

    def test_literals_and_booleans(self):
        self.assertIn('must be one of "all", "any", not a string ("some")', self.error('{"steps": [], "mode": "some"}', Flow))
        self.assertIn("must be true or false, not the number 1", self.error('{"steps": [], "verbose": 1}', Flow))

    def test_post_init_refusals_are_shown_as_is(self):
        self.assertEqual(self.error('{"url": "ftp://a"}', Checked), "url `ftp://a` must start with http:// or https://")
        self.assertEqual(self.error('{"steps": [{"url": 1}]}', Flow), "configuration key `steps[0].url` must be a string, not the number 1")

    def test_documents_that_are_not_objects(self):
        self.assertTrue(self.error("{bad").startswith("configuration is not valid JSON: "))
        self.assertEqual(self.error("[1]"), 'configuration must be a JSON object ({"key": value, ...}), not a list')
        # No configuration at all is an empty object: defaults, or missing keys.
        self.assertEqual(self.error("  "), "missing configuration key `url` (a string)")
        self.assertEqual(parse_config("", None), {})
        self.assertIn("unknown configuration key `x`", self.error('{"x": 1}', None))
        self.assertIn("known keys: none", self.error('{"x": 1}', None))

    def test_dict_schemas(self):
        schema = {"url": str, "max_queue_depth": (int, 100)}
        self.assertEqual(parse_config('{"url": "a"}', schema), {"url": "a", "max_queue_depth": 100})
        self.assertIn("unknown configuration key `max_queu_depth`", self.error('{"url": "a", "max_queu_depth": 1}', schema))

    def test_lenient_parsing_ignores_unknown_keys(self):
        c = parse_config({"url": "a", "extra": 1}, Config, strict=False, what="body")
        self.assertEqual(c.url, "a")
        with self.assertRaises(ConfigError) as e:
            parse_config({}, Config, strict=False, what="body")
        self.assertEqual(str(e.exception), "missing body key `url` (a string)")

    def test_describe(self):
        self.assertEqual(describe(Config), "url (string, required), max_queue_depth (integer, default 100)")
        self.assertIn("steps (list of objects, required), mode (one of \"all\", \"any\", default \"all\")", describe(Flow))
        self.assertEqual(describe(None), "")

    def test_a_schema_mistake_is_the_authors(self):
        with self.assertRaises(TypeError):
            parse_config("{}", "not a schema")

        @dataclass
        class Odd:
            when: complex

        with self.assertRaises(TypeError):
            parse_config('{"when": 1}', Odd)


if __name__ == "__main__":
    unittest.main()
