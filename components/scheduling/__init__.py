"""Scheduling: the backends that render the team tree (airflow_kit_platform.model.teams).

`backend.py` the plan every backend returns; `default.py`, `koordinator.py`, `volcano.py`,
`ack.py` the backends (pure builders); `plans.py` picks one by `scheduler.backend`;
`layer.py` creates the plan's resources.
"""
