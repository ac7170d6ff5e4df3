"""`python -m cachediag`: the same program as the `cachediag` console script."""

from cachediag.cli.app import main

if __name__ == "__main__":
    main()
