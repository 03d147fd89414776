"""Test fixture: importing this plugin fails, as a buggy third-party plugin would."""

raise RuntimeError("this plugin is broken on purpose")
