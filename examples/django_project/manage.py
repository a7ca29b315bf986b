#!/usr/bin/env python
"""The example project's manage.py: ``./manage.py run_huey`` runs the consumer."""

import os
import sys

# Greenlet workers need gevent's patches before Django (and the standard library modules it
# imports) is loaded.
if "run_huey" in sys.argv and any(arg in sys.argv for arg in ("greenlet", "-kgreenlet")):
    from gevent import monkey

    monkey.patch_all()


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shopsite.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
