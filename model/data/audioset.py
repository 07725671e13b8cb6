"""AudioSet's 521 YAMNet classes mapped onto ours (`audioset.tsv`): the same, merged into one, new, or dropped.

The table is the bridge between the teacher's ontology and our vocabulary: YAMNet's scores become
answers in our classes (`to_our_class`), and its `new` rows name the everyday sounds our 163 classes
lack (`vocabulary`). `read_audioset_map` checks every row once, at the boundary.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from ..metrics import normalize
from ..yamnet import NUM_CLASSES, read_class_names
from .labels import CLASSES_TSV, ClassInfo, load_classes

HERE = Path(__file__).parent
AUDIOSET_TSV = HERE / "audioset.tsv"
ACTIONS = ("same", "into", "new", "drop")
EMPTY = "-"  # a column the action leaves empty
COLUMNS = 6  # index, AudioSet name, action, our class, plain name, synonyms
SYNONYMS = (2, 6)  # how many synonyms a new class gives, at least and at most


@dataclass(frozen=True)
class AudioSetRow:
    """One YAMNet class and what it becomes in our vocabulary."""

    index: int  # YAMNet's output index
    display_name: str  # AudioSet's name, as yamnet_class_map.csv spells it
    action: str  # same, into, new or drop
    ours: str | None = None  # our class (classes.tsv) for same and into
    name: str | None = None  # the plain everyday name of a new class
    synonyms: tuple[str, ...] = ()  # of a new class

    @property
    def target(self) -> str | None:
        """The class it names: ours for same/into, the plain name for new, None for drop."""
        return self.ours if self.action in ("same", "into") else self.name


def read_audioset_map(path: str | Path = AUDIOSET_TSV, class_map: str | Path | None = None,
                      classes: dict[str, ClassInfo] | None = None) -> list[AudioSetRow]:
    """audioset.tsv -> its 521 rows in YAMNet's order, validated; ValueError naming the line and the fix.

    With `class_map` (yamnet_class_map.csv), each row's AudioSet name must match the class at its index.
    """
    path = Path(path)
    classes = load_classes() if classes is None else classes
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise RuntimeError(f"{path}: cannot read the AudioSet table ({e})") from e
    rows, where = [], []
    for n, line in enumerate(lines, 1):
        if line.strip() and not line.startswith("#"):
            rows.append(_parse(line, f"{path}:{n}", len(rows), classes))
            where.append(f"{path}:{n}")
    if len(rows) != NUM_CLASSES:
        raise ValueError(f"{path}: {len(rows)} rows where YAMNet has {NUM_CLASSES} classes; "
                         f"give every class of yamnet_class_map.csv one row, in its order")
    if class_map is not None:
        names = read_class_names(class_map)
        for row, at in zip(rows, where):
            if row.display_name != names[row.index]:
                raise ValueError(f"{at}: AudioSet name {row.display_name!r}, but {Path(class_map).name} calls class "
                                 f"{row.index} {names[row.index]!r}; rows or columns have shifted, fix the row")
    _check_names(rows, where, classes)
    return rows


def _parse(line: str, at: str, expected: int, classes: dict[str, ClassInfo]) -> AudioSetRow:
    """One table line -> its row, its columns checked against its action."""
    cols = line.split("\t")
    if len(cols) != COLUMNS:
        raise ValueError(f"{at}: {len(cols)} tab-separated columns where the table has {COLUMNS} (index, AudioSet "
                         f"name, action, our class, plain name, synonyms; '{EMPTY}' for an empty one); fix the row")
    index, display, action, ours, name, synonyms = (c.strip() for c in cols)
    if index != str(expected):
        raise ValueError(f"{at}: index {index!r} where row {expected} is due; one row per YAMNet class, "
                         f"in its order 0..{NUM_CLASSES - 1}")
    if action not in ACTIONS:
        raise ValueError(f"{at}: action {action!r}; use one of {', '.join(ACTIONS)}")
    if action in ("same", "into"):
        if ours not in classes:
            raise ValueError(f"{at}: {action} {ours!r}, which is not a class of {CLASSES_TSV.name}; "
                             f"name one of its classes, or make the row 'new'")
        if (name, synonyms) != (EMPTY, EMPTY):
            raise ValueError(f"{at}: a {action} row takes its names from {CLASSES_TSV.name}; "
                             f"put '{EMPTY}' in the plain name and synonyms columns")
        return AudioSetRow(expected, display, action, ours=ours)
    if action == "drop":
        if (ours, name, synonyms) != (EMPTY, EMPTY, EMPTY):
            raise ValueError(f"{at}: a drop row names nothing; put '{EMPTY}' in the last three columns")
        return AudioSetRow(expected, display, action)
    if ours != EMPTY or name in ("", EMPTY):
        raise ValueError(f"{at}: a new row gives a plain name and '{EMPTY}' as our class (a class we have is "
                         f"'same' or 'into')")
    words = tuple(s.strip() for s in synonyms.split(",") if s.strip())
    if not SYNONYMS[0] <= len(words) <= SYNONYMS[1]:
        raise ValueError(f"{at}: {len(words)} synonyms for {name!r}; give {SYNONYMS[0]} to {SYNONYMS[1]}, "
                         "comma-separated")
    return AudioSetRow(expected, display, action, name=name, synonyms=words)


def _check_names(rows: list[AudioSetRow], where: list[str], classes: dict[str, ClassInfo]) -> None:
    """Every new name and synonym names one thing: no class, synonym or other new phrase is spelled alike."""
    owner: dict[str, str] = {}
    for c in classes.values():
        for phrase in (c.name, *c.synonyms):
            owner.setdefault(normalize(phrase), f"{CLASSES_TSV.name} ({c.name})")
    new = [(r, at) for r, at in zip(rows, where) if r.action == "new"]
    _claim(owner, [(r.name, r, at) for r, at in new], "plain name")  # names first: no synonym may take one
    for r, at in new:
        _claim(owner, [(s, r, at) for s in r.synonyms], "synonym")


def _claim(owner: dict[str, str], phrases: list[tuple[str, AudioSetRow, str]], what: str) -> None:
    for phrase, row, at in phrases:
        key = normalize(phrase)
        if not key:
            raise ValueError(f"{at}: {what} {phrase!r} has no letters; give a word people use")
        if key in owner:
            raise ValueError(f"{at}: {what} {phrase!r} of {row.display_name!r} is already taken by "
                             f"{owner[key]}; choose another or leave it out")
        owner[key] = f"row {row.index} ({row.name})"


@functools.lru_cache(maxsize=1)
def default_map() -> tuple[AudioSetRow, ...]:
    """The shipped table, read and checked once."""
    return tuple(read_audioset_map())


def to_our_class(yamnet_index: int, rows: list[AudioSetRow] | tuple[AudioSetRow, ...] | None = None) -> str | None:
    """YAMNet class -> our class (same/into), its plain name (new), or None (drop)."""
    rows = default_map() if rows is None else rows
    if not 0 <= yamnet_index < len(rows):
        raise ValueError(f"YAMNet index {yamnet_index} is out of range 0..{len(rows) - 1}")
    return rows[yamnet_index].target


def vocabulary(rows: list[AudioSetRow] | tuple[AudioSetRow, ...] | None = None,
               classes: dict[str, ClassInfo] | None = None) -> list[str]:
    """Every nameable class: ours in classes.tsv's order, then the new ones in YAMNet's order."""
    rows = default_map() if rows is None else rows
    classes = load_classes() if classes is None else classes
    return list(classes) + [r.name for r in rows if r.action == "new"]
