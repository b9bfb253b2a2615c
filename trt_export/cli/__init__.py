"""Command line: argparse subcommands and their translation into library calls."""
