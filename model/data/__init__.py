"""The training corpus: Debian-packaged recordings, synthesised speech, rendered music, scenes and tasks.

Modules: `sources` (packages and tools), `labels` (the curated tables), `clips` (clip processing),
`synth` (speech and music rendering), `keyboard` (typing clips), `build` (sam-data build),
`codec` and `pack` (the archive), `corpus` (loading it anywhere), `mixer` (scenes), `tasks`
(questions), `augment`, `dataset` (training items), `valset` (the fixed validation set), `demo`.
"""
