"""SAM Live: the streaming audio assistant app."""
