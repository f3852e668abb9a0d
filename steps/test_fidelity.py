"""Binds features/fidelity.feature to the step definitions in steps/conftest.py."""

from pytest_bdd import scenarios

scenarios("fidelity.feature")
