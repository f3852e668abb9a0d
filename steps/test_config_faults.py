"""Binds features/config_faults.feature to the step definitions in steps/conftest.py."""

from pytest_bdd import scenarios

scenarios("config_faults.feature")
