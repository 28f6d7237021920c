"""Typed models of the OpenKruise kinds (kruise-api field names, camelCase on the wire).

Each kind lives in its own module; the shared building blocks are in ``base`` and ``pub``.
Import the kind you need (``from schemas.kruise.cloneset import CloneSet``); the CRD
generator (``schemas.crdgen``) walks ``schemas.kruise.registry.ALL_RESOURCES``.
"""
