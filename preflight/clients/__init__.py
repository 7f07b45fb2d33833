"""Typed HTTP clients of the services under test, one module per service."""
