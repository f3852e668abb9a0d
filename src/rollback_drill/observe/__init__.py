"""Observation: the shared timeline, locust load, steady-state probes and the trigger detectors."""
