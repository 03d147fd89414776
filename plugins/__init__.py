"""Built-in plugins shipped with gwms (importable as ``gwms_plugins``).

One module per feature, grouped by hook family. Each module implements one
registration hook with :data:`gwms_core.hookimpl`. Modules import one another
relatively so they type-check from the source tree.
"""
