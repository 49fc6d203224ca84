"""Puts the SDK source (sdk/python) first on sys.path, so the tests exercise
the files in this repository rather than an installed copy."""

import os
import sys

SDK = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if sys.path[:1] != [SDK]:
    sys.path.insert(0, SDK)
