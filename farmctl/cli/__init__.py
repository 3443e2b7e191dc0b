"""The command-line interface: parses arguments and renders output, nothing else."""
