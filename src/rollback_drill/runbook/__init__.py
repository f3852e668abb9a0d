"""The runbook: its model read from Markdown, the executor of its commands, substitutions, preflight."""
