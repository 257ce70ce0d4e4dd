"""pytest setup: test the package in this tree (bindings/python), or, with
GOWT_TEST_INSTALLED=1, the one installed on sys.path (run_tests.py does
that after `pip install --target`)."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if os.environ.get("GOWT_TEST_INSTALLED") != "1":
    sys.path.insert(0, os.path.dirname(HERE))
