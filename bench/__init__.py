"""The scheduling and task-latency benchmark: `python -m bench` (see bench/__main__.py and the README)."""
