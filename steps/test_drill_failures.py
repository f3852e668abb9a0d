"""Binds features/drill_failures.feature to the step definitions in steps/conftest.py."""

from pytest_bdd import scenarios

scenarios("drill_failures.feature")
