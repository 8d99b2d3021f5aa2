"""Reusable fakes for tests: real servers on 127.0.0.1 speaking real wire formats."""
