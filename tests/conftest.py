"""Shared fixtures. The real demo pipeline runs once per test session (see `demo_run`)."""
