"""The indexing pipeline: queueing, draining and claims, the indexing stages, reading words, labels,
rehashing, model switches, reconcile, and the workers and their states. It never imports the query
side (`.importlinter`)."""
