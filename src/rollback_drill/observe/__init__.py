"""Observation: the shared timeline, locust load, steady-state probes and the trigger detectors.

It knows no runbook and no system under test: criteria arrive as plain metric specs. Modules:

- timeline.py — one clock per drill: marks, probe samples, load buckets, command records
- load.py, load_worker.py — user load with locust (and its worker processes)
- probes.py — steady-state probes through the Ingress at >= 2 Hz
- detectors.py — a criterion (MetricSpec) checked over the timeline
- cluster_state.py — what the cluster says: who served, what is restored (read through cluster.kube)
- k8s_watch.py — what the cluster did during a drill, on the drill's clock
"""
