"""The output contract: in-flight record types and the Arrow schemas of the three tables."""
