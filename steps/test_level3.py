"""Binds features/level3.feature to the step definitions in steps/conftest.py."""

from pytest_bdd import scenarios

scenarios("level3.feature")
