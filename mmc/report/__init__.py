"""`mmc report <sweep dir>`: the runs' summary.json files -> paper-style tables, tests, plots."""
