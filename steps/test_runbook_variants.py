from pytest_bdd import scenarios

scenarios("runbook_variants.feature")
