"""Helpers the test tiers share (test modules import these, never each other); the drivers of
real things the benchmark uses too live in repo_tools."""
