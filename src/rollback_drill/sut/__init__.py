"""The system under test: the stub Mastodon's images, deployment, datastores and faults."""
