"""Helpers of the own tests: pytester sessions, commands run as a user, hosts, doc examples."""
