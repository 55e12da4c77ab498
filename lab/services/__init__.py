"""The services a lab device runs, one module per service, each configured by the model."""
