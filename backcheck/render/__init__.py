"""Rendering: rich tables and trees, DOT, Markdown/LaTeX, JSON. Nothing below prints."""
