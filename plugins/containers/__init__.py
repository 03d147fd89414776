"""Built-in containers plugins."""
