"""`python -m farmctl` is the same as the `farmctl` console script."""

from farmctl.cli.main import main

if __name__ == "__main__":
    main()
