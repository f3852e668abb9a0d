"""Binds features/level2.feature to the step definitions in steps/conftest.py."""

from pytest_bdd import scenarios

scenarios("level2.feature")
