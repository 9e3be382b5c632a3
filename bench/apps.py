from django.apps import AppConfig


class BenchConfig(AppConfig):
    """Installed for its management commands only: no models, no receivers."""

    name = "bench"
