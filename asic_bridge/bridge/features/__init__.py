"""The bridge's features: each subscribes to the events it needs and owns its own state.

``state`` (retained state, per-field topics, energy), ``availability``, ``discovery`` (Home
Assistant), ``bridge`` (the bridge's own topics), ``commands`` (``<id>/set``), ``fleet``,
``requests`` (``bridge/request/*``) and ``devices`` (the device requests).
"""
