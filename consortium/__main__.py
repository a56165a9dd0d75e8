"""``python -m consortium`` runs the ``consortium`` command."""

from consortium.cli import main

if __name__ == "__main__":  # the audit's worker processes import this module too
    main()
