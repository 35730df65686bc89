"""The model floor: the team tree (teams.py) and the names every layer shares (names.py). It
imports nothing of the kit above it (settings, backends, layers), so everything may import it.
"""
