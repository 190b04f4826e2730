"""Benchmarks and reference implementations (outside the wheel): `datasoc bench ...` in a checkout."""
