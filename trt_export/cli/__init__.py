"""Command line: argparse subcommands, their translation into library calls, and doctor."""
