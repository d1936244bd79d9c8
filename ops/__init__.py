"""How shuwu runs: the embedded dev stack, demo, fake WeChat server, benchmarks."""
