import sdk_path  # noqa: F401  (first: the SDK under test)

import os
import re
import sys
import unittest

import pitwall_check

REPO_WIT = os.path.join(sdk_path.SDK, "..", "..", "wit", "check.wit")


class PackageTests(unittest.TestCase):
    def test_carries_the_contract(self):
        with open(pitwall_check.contract_path()) as f:
            text = f.read()
        self.assertEqual(os.path.dirname(pitwall_check.contract_path()), pitwall_check.wit_dir())
        package = re.search(r"^package (\S+);", text, re.M).group(1)
        self.assertEqual(package, pitwall_check.CONTRACT)
        self.assertIn("world check", text)

    @unittest.skipUnless(
        os.path.exists(REPO_WIT) and not sdk_path.INSTALLED, "not the repository's source tree"
    )
    def test_the_contract_is_the_repositorys(self):
        # A symlink, so there is one contract to edit.
        link = pitwall_check.contract_path()
        self.assertTrue(os.path.islink(link))
        self.assertEqual(os.readlink(link), "../../../../wit/check.wit")
        with open(link) as a, open(REPO_WIT) as b:
            self.assertEqual(a.read(), b.read())

    @unittest.skipUnless(sdk_path.INSTALLED, "the source tree is under test")
    def test_the_installed_package_carries_the_contract_as_a_file(self):
        # Loaded from the installed wheel or sdist, not from the source tree.
        here = os.path.abspath(pitwall_check.__file__)
        self.assertFalse(here.startswith(sdk_path.SDK + os.sep), here)
        contract = pitwall_check.contract_path()
        self.assertFalse(os.path.islink(contract))
        with open(contract) as a, open(REPO_WIT) as b:
            self.assertEqual(a.read(), b.read())

    def test_imports_without_the_bindings(self):
        self.assertFalse(pitwall_check._host.IN_COMPONENT)
        self.assertNotIn("wit_world", sys.modules)
        self.assertNotIn("pitwall_check._wasm", sys.modules)


if __name__ == "__main__":
    unittest.main()
