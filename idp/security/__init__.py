"""Framework-free security primitives, one third-party library per module."""
