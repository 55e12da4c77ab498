"""Protocol clients the checks share."""
