"""Selection runs: the demand a plan's rooms show, the optimizer run on it, stored runs and diffs."""
