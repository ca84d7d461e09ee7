"""What every layer uses and that knows nothing of networks or formulas: errors, random streams, input checks,
files, wall-clock safety nets."""
