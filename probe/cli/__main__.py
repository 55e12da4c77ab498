"""`python -m lanprobe.cli`: the same as the `probe` console script."""

from lanprobe.cli import app

app()
