"""The output contract: in-flight record types, the Arrow schemas of every table, and the
DuckLake catalog that holds them."""
