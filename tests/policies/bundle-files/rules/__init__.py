"""A package of the policy's own, with a data file."""
