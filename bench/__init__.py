"""Benchmarks that run the service as it is deployed (gunicorn, real database); see README.md."""
