"""The benchmarks: `make bench` (`manage.py bench`), `manage.py bench_duplicates` and
`make bench-abuse` (`manage.py bench_abuse`), with the pictures they and the tests draw.

A Django app of its own on top of everything: it may import every app and the launcher; no app
imports it (`.importlinter`), so the apps carry no benchmark code."""
