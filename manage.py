#!/usr/bin/env python
"""Django's command line. Settings only read the environment, so this first fills in what comes from
files (DATA_DIR, the secret key, the addresses of a live `make run`): see launcher/environment.py."""

import os
import sys

from launcher.environment import prepare


def main() -> None:
    prepare()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
