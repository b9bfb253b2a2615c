"""The sweep: candidate shapes measured in worker processes, statistics, recommendation, bench.json."""
