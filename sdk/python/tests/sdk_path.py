"""Puts the SDK source (sdk/python) first on sys.path, so the tests exercise
the files in this repository rather than an installed copy; with
PITWALL_SDK_INSTALLED=1 they exercise the installed package instead (a wheel
or an sdist, scripts/python-package.sh)."""

import os
import sys

SDK = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INSTALLED = os.environ.get("PITWALL_SDK_INSTALLED") == "1"
if not INSTALLED and sys.path[:1] != [SDK]:
    sys.path.insert(0, SDK)
