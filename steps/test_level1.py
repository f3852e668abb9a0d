"""Binds features/level1.feature to the step definitions in steps/conftest.py."""

from pytest_bdd import scenarios

scenarios("level1.feature")
