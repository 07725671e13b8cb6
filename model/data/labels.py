"""The curated label tables: class metadata (`classes.tsv`) and path-pattern labels (`labels.tsv`)."""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).parent
CLASSES_TSV = HERE / "classes.tsv"
LABELS_TSV = HERE / "labels.tsv"
DROP = "-"  # the class column value that drops matching files
KINDS = ("speech", "music", "sound")  # what the "type" task distinguishes


@dataclass(frozen=True)
class ClassInfo:
    """One sound class: its category (animal, vehicle, ...), kind (speech/music/sound) and synonyms."""

    name: str
    category: str
    kind: str
    synonyms: tuple[str, ...] = field(default=())

    def accepts(self, text: str) -> bool:
        """True when `text` names this class or one of its synonyms (case-insensitive)."""
        t = text.strip().lower()
        return t == self.name.lower() or t in (s.lower() for s in self.synonyms)


@dataclass(frozen=True)
class LabelRule:
    """A row of labels.tsv: files of `package` whose path matches `pattern` get `label`."""

    package: str
    pattern: str
    label: str
    note: str = ""

    def matches(self, package: str, path: str) -> bool:
        """True when this rule applies to `path` inside `package`."""
        return package == self.package and fnmatch.fnmatchcase(path.lower(), self.pattern.lower())


def _rows(path: Path) -> list[list[str]]:
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        cols = line.split("\t")
        if len(cols) < 3:
            raise ValueError(f"{path}:{n}: expected tab-separated columns, got {line!r}; fix the row")
        rows.append(cols)
    return rows


def load_classes(path: Path = CLASSES_TSV) -> dict[str, ClassInfo]:
    """classes.tsv -> {name: ClassInfo}; ValueError naming the row when a row is malformed."""
    classes = {}
    for cols in _rows(path):
        name, category, kind = cols[0], cols[1], cols[2]
        if kind not in KINDS:
            raise ValueError(f"{path}: class {name!r} has kind {kind!r}; use one of {KINDS}")
        synonyms = tuple(s.strip() for s in cols[3].split(",") if s.strip()) if len(cols) > 3 else ()
        classes[name] = ClassInfo(name, category, kind, synonyms)
    return classes


def load_rules(path: Path = LABELS_TSV, classes: dict[str, ClassInfo] | None = None) -> list[LabelRule]:
    """labels.tsv -> rules in file order; every label must be a known class or '-'."""
    classes = load_classes() if classes is None else classes
    rules = []
    for cols in _rows(path):
        rule = LabelRule(cols[0], cols[1], cols[2], cols[3] if len(cols) > 3 else "")
        if rule.label != DROP and rule.label not in classes:
            raise ValueError(f"{path}: label {rule.label!r} ({rule.package} {rule.pattern}) is not in "
                             f"{CLASSES_TSV.name}; add the class there or fix the label")
        rules.append(rule)
    return rules


def label_for(package: str, path: str, rules: list[LabelRule]) -> LabelRule | None:
    """The first rule matching `path` in `package`, or None when no row covers it."""
    for rule in rules:
        if rule.matches(package, path):
            return rule
    return None
