"""``python -m smmsheet``: the same command as the ``smmsheet`` console script."""

from .cli import main

if __name__ == "__main__":
    main()
