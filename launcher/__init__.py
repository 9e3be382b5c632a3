"""`make run`'s process supervisor and the environment it prepares.

Plain Python on purpose: it imports nothing from the Django project (webapp, ingestion, search) and
reaches the app only through child processes, their environment variables and HTTP (/healthz).
"""
