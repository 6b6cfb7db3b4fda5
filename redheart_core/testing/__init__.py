"""Test kit for plugin authors: conformance suites and fixtures."""
