"""sam-eval: how good a SAM checkpoint is, said with numbers.

Modules: `answering` (items and how the model answers them), `scoring` (answers against the known
ones), `stats` (intervals and item-by-item comparison), `charts`, `benchmarks` (AudioCaps, Clotho,
OpenAQA), `valset` (the whole run on the validation set), `report` and `cli` (sam-eval).
"""
