"""`compilemessages` without GNU gettext: the interface's .po files (LOCALE_PATHS) become .mo files.

Django's own command needs `msgfmt`, which a fresh machine may lack, and walks the whole tree
(the virtual environment included). This one compiles only the project's catalogues, with polib
(pure Python, pinned in requirements.txt); `make install` runs it on every set-up, so the .mo files
are build output, never committed. Fuzzy and untranslated entries are left out, so such a string
shows in English rather than wrongly.
"""

from __future__ import annotations

from pathlib import Path

import polib
from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Compile the interface's translations (locale/*/LC_MESSAGES/*.po) into .mo files."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--force", action="store_true", help="compile even if the .mo file is newer")

    def handle(self, **options) -> None:
        for po_path in catalogues():
            mo_path = po_path.with_suffix(".mo")
            fresh = mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime
            if fresh and not options["force"]:
                continue
            polib.pofile(str(po_path)).save_as_mofile(str(mo_path))
            if options["verbosity"] > 0:
                self.stdout.write(f"compiled {mo_path}")


def catalogues() -> list[Path]:
    return sorted(po for base in settings.LOCALE_PATHS for po in Path(base).glob("*/LC_MESSAGES/*.po"))
