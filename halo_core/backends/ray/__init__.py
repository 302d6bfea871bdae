"""Engine hosts as Ray actors: a session's engines replicated over a Ray cluster, each call
placed on a replica by its prompt's first KV block (``EngineConfig(backend="ray")``).

Only :mod:`.settings` is imported with the registry; the rest imports Ray, an optional extra
(``pip install 'halo-batch[ray]'``)."""
