#!/usr/bin/env python
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studiosim.settings")
    # Commands (training, evaluation, imports, migrations) run statements far
    # longer than a web request's: unless the environment sets one, they get
    # the batch statement timeout (studiosim.database).
    if "DATABASE_STATEMENT_TIMEOUT" not in os.environ:
        os.environ["DATABASE_STATEMENT_TIMEOUT"] = os.environ.get(
            "DATABASE_BATCH_STATEMENT_TIMEOUT", "1800"
        )
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
