"""The system under test: the stub Mastodon's images, deployment, datastores and faults.

It knows no runbook text: the drill hands in what it needs (a criterion's kind and threshold, a
level's commands as strings). Modules:

- system.py — the system under test behind one interface (check, provision, describe): the stub on the
  drill cluster, the stub in a namespace of an allowed context, a team's release

- application.py — where the drilled Mastodon lives and what its parts are called
- images.py — the stub's and the datastores' images (built with cluster/images.py)
- deploy.py — the just-migrated state the runbook assumes, in a lane (lane_app: its namespace and host)
- datastores.py — PostgreSQL and Redis on the runner's Docker (Cloud SQL, Memorystore), backups; a pair per lane
- cloudsql.py — the Cloud SQL stand-in behind the runbook's `gcloud sql …` commands
- incluster.py — PostgreSQL and Redis as StatefulSets in the drill's namespace
- faults.py — the fault that makes a criterion true, injected into the Helm release
- mistakes.py — configuration mistakes, proven before they are called faults
- changes.py — every change the harness makes, with how to put it back
- existing.py — the system under test on a cluster the harness did not create
- profile.py, emulation.py — fidelity profiles and making them real on the drill cluster
- restore_model.py — restore time against database size
"""
