"""The CloneSet worker: OpenKruise's CloneSet (apps.kruise.io/v1alpha1) as a Flotilla worker type.

``planner.plan`` is the pure heart (observed state in, a :class:`~workers.cloneset.actions.Plan`
out); the modules it composes are listed in docs/cloneset.md.
"""
