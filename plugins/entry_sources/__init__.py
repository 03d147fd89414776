"""Built-in entry sources plugins."""
