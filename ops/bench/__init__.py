"""Benchmarks run by hand (never timed tests): each starts its own embedded stack and server
and prints figures, with a baseline measured in the same run.

    python -m ops.bench.circulation --quick      # about a minute
    python -m ops.bench.circulation              # the full run recorded in README "Performance"
"""
