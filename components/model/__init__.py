"""The model floor: the team tree (teams.py), the names every layer shares (names.py) and what a
task pod may do (pod_security.py). It
imports nothing of the kit above it (settings, backends, layers), so everything may import it.
"""
