"""SAM: the State-space Audio-language Model and everything offline around it."""
