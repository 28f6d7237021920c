"""The bus contract: the trigger envelope, subject names and the JetStream objects Flotilla declares.

Pure data and pure functions except :mod:`schemas.bus.bootstrap`, the one module that talks to
JetStream to declare the streams, consumers and KV buckets described in :mod:`schemas.bus.streams`.
The watcher publishes envelopes; the worker runtime (``workers.runtime``) consumes them.
"""
