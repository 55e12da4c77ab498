"""lanprobe's built-in profiles and data files (package data; nothing to import here)."""
