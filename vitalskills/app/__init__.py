"""Whole workflows that wire the libraries together: what one command does, end to end."""
