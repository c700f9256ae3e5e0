"""LFW protocol readers on the real files (skipped with a reason if absent), leakage checks, long-tail maker."""
import json
import os
from pathlib import Path

import pytest

from irface_ml.splits import (
    LongTailConfig, Pair, assert_disjoint, image_path, make_longtail, pair_people, parse_folds, people_of_folds,
    read_pairs, read_people,
    read_subset_json, scan_identity_folder, view1_train_people, view2_train_people, write_subset_json,
    write_subset_symlinks,
)

# LFW sits in ../shared beside the checkout (CI lays a copy there too); IRFACE_LFW overrides.
LFW = Path(os.environ.get("IRFACE_LFW", Path(__file__).resolve().parents[3] / "shared" / "datasets" / "lfw"))
PROTOCOL = LFW / "protocol"


@pytest.fixture(scope="module")
def protocol() -> Path:
    if not (PROTOCOL / "pairs.txt").is_file():
        pytest.skip(f"LFW protocol files not found in {PROTOCOL} (set IRFACE_LFW to the dataset root)")
    return PROTOCOL


# ---- parsing on synthetic files (always run) ------------------------------------------------------

def test_read_pairs_small_file(tmp_path):
    f = tmp_path / "pairs.txt"
    f.write_text("2\t1\nAnn\t1\t2\nAnn\t1\tBob\t3\nBob\t2\t3\nCy\t1\tAnn\t2\n")
    folds = read_pairs(f)
    assert folds == [[Pair("Ann", 1, "Ann", 2, True), Pair("Ann", 1, "Bob", 3, False)],
                     [Pair("Bob", 2, "Bob", 3, True), Pair("Cy", 1, "Ann", 2, False)]]
    assert folds[0][1].paths() == ("images/Ann/Ann_0001.jpg", "images/Bob/Bob_0003.jpg")
    f.write_text("1\nAnn\t1\tBob\t2\nAnn\t1\t2\n")  # blocks in the wrong order
    with pytest.raises(ValueError, match="expected a same pair"):
        read_pairs(f)
    f.write_text("2\t1\nAnn\t1\t2\n")
    with pytest.raises(ValueError, match="header says 2 folds x 2 pairs, found 1 lines"):
        read_pairs(f)


def test_read_people_both_layouts(tmp_path):
    f = tmp_path / "people.txt"
    f.write_text("2\n2\nAnn\t3\nBob\t1\n1\nCy\t2\n")
    assert read_people(f) == [{"Ann": 3, "Bob": 1}, {"Cy": 2}]
    f.write_text("2\nAnn\t3\nBob\t1\n")
    assert read_people(f) == [{"Ann": 3, "Bob": 1}]
    f.write_text("3\nAnn\t3\nBob\t1\n")
    with pytest.raises(ValueError, match="should list 3"):
        read_people(f)


def test_assert_disjoint_names_the_overlap():
    assert_disjoint({"Ann", "Bob"}, {"Cy"})
    with pytest.raises(ValueError, match=r"1 training people also in DevTest, e.g. \['Bob'\]"):
        assert_disjoint({"Ann", "Bob"}, {"Bob", "Cy"}, "DevTest")


# ---- the real LFW protocol ------------------------------------------------------------------------

def test_view2_pairs(protocol):
    folds = read_pairs(protocol / "pairs.txt")
    assert len(folds) == 10 and all(len(f) == 600 for f in folds)
    assert all(sum(p.same for p in f) == 300 for f in folds)
    assert folds[0][0] == Pair("Abel_Pacheco", 1, "Abel_Pacheco", 4, True)
    assert folds[0][0].paths()[1] == "images/Abel_Pacheco/Abel_Pacheco_0004.jpg"


def test_view2_people_folds_and_training_people(protocol):
    people = read_people(protocol / "people.txt")
    assert [len(f) for f in people] == [601, 555, 552, 560, 567, 527, 597, 601, 580, 609]
    assert len(set().union(*people)) == 5749
    pairs = read_pairs(protocol / "pairs.txt")
    for k in range(10):
        eval_people = pair_people(pairs[k])
        assert eval_people <= set(people[k])  # pairs of fold k only involve people of fold k
        train = view2_train_people(people, k)
        assert len(train) == 5749 - len(people[k])
        assert_disjoint(train, eval_people, f"View 2 fold {k}")


def test_person_fold_halves_are_disjoint_and_cover_everyone(protocol):
    people = read_people(protocol / "people.txt")
    pairs = read_pairs(protocol / "pairs.txt")
    first, second = people_of_folds(people, parse_folds("1-5")), people_of_folds(people, parse_folds("6-10"))
    assert len(first) == 601 + 555 + 552 + 560 + 567 and len(first | second) == 5749
    assert_disjoint(first, pair_people(p for k in parse_folds("6-10") for p in pairs[k]), "folds 6-10 pairs")
    assert_disjoint(second, pair_people(p for k in parse_folds("1-5") for p in pairs[k]), "folds 1-5 pairs")


def test_parse_folds():
    assert parse_folds("6-10") == [5, 6, 7, 8, 9] and parse_folds("1,3, 2") == [0, 1, 2] and parse_folds("4") == [3]
    for bad in ("0-3", "5-11", "x", "7-6"):
        with pytest.raises(ValueError, match="folds"):
            parse_folds(bad)


def test_view1_dev_sets(protocol):
    train_people = view1_train_people(read_people(protocol / "peopleDevTrain.txt"))
    test_people = view1_train_people(read_people(protocol / "peopleDevTest.txt"))  # just the name set
    assert (len(train_people), len(test_people)) == (4038, 1711)
    assert_disjoint(train_people, test_people, "DevTest people")
    dev_train, dev_test = read_pairs(protocol / "pairsDevTrain.txt"), read_pairs(protocol / "pairsDevTest.txt")
    assert [len(dev_train[0]), len(dev_test[0])] == [2200, 1000]
    assert sum(p.same for p in dev_test[0]) == 500
    assert pair_people(dev_test[0]) <= test_people and pair_people(dev_train[0]) <= train_people
    assert_disjoint(train_people, pair_people(dev_test[0]), "DevTest pairs")


def test_pair_images_exist_when_images_present(protocol):
    if not (LFW / "images").is_dir():
        pytest.skip(f"LFW images not found in {LFW / 'images'}")
    missing = [p for f in read_pairs(protocol / "pairs.txt") for pair in f for p in pair.paths()
               if not (LFW / p).is_file()]
    assert missing == []


# ---- controlled long tail -------------------------------------------------------------------------

def toy_dataset():
    # 10 people with 10-19 images (eligible), 3 with fewer (never used)
    data = {f"p{i:02d}": [f"p{i:02d}/{j}.jpg" for j in range(10 + i)] for i in range(10)}
    data.update({f"small{i}": [f"small{i}/0.jpg"] for i in range(3)})
    return data


def test_longtail_structure_and_determinism():
    data = toy_dataset()
    cfg = LongTailConfig(head_frac=0.3, head_min=10, seed=1)
    sub = make_longtail(data, cfg)
    assert len(sub.head) == 3 and len(sub.tail) == 7
    assert set(sub.head) | set(sub.tail) == {f"p{i:02d}" for i in range(10)}
    for p in sub.head:
        assert sub.images[p] == sorted(data[p]) and p not in sub.held_out
    for p in sub.tail:
        assert 1 <= len(sub.images[p]) <= 2
        assert sorted(sub.images[p] + sub.held_out[p]) == sorted(data[p])
    shuffled = {p: list(reversed(v)) for p, v in reversed(list(data.items()))}
    assert make_longtail(shuffled, cfg) == sub  # input order does not matter
    others = [make_longtail(data, LongTailConfig(head_frac=0.3, seed=s)) for s in range(2, 6)]
    assert any(o.head != sub.head or o.images != sub.images for o in others)


def test_longtail_config_validation():
    with pytest.raises(ValueError, match="tail_max < head_min"):
        LongTailConfig(head_min=2, tail_max=2)
    with pytest.raises(ValueError, match="no person has >= head_min=50"):
        make_longtail(toy_dataset(), LongTailConfig(head_min=50))


def test_longtail_json_and_symlinks(tmp_path):
    src = tmp_path / "src"
    for i in range(4):
        (src / f"P{i}").mkdir(parents=True)
        for j in range(3 + i):
            (src / f"P{i}" / f"P{i}_{j:04d}.jpg").write_bytes(b"x")
    data = scan_identity_folder(src)
    assert data["P0"] == ["P0/P0_0000.jpg", "P0/P0_0001.jpg", "P0/P0_0002.jpg"]
    sub = make_longtail(data, LongTailConfig(head_frac=0.5, head_min=3))
    write_subset_json(sub, tmp_path / "lt.json")
    assert json.loads((tmp_path / "lt.json").read_text())["format"] == "irface.longtail/1"
    assert read_subset_json(tmp_path / "lt.json") == sub
    n = write_subset_symlinks(sub, src, tmp_path / "out")
    assert n == sum(len(v) for v in sub.images.values())
    link = tmp_path / "out" / sub.images[sub.tail[0]][0]
    assert link.is_symlink() and link.resolve() == (src / sub.images[sub.tail[0]][0]).resolve()
    with pytest.raises(FileExistsError):
        write_subset_symlinks(sub, src, tmp_path / "out")


def test_make_longtail_cli(tmp_path, capsys):
    import make_longtail

    src = tmp_path / "src"
    for i in range(5):
        (src / f"P{i}").mkdir(parents=True)
        for j in range(4):
            (src / f"P{i}" / f"P{i}_{j:04d}.jpg").write_bytes(b"x")
    people = tmp_path / "people.txt"
    people.write_text("4\nP0\t4\nP1\t4\nP2\t4\nP3\t4\n")  # P4 is excluded, as DevTest people would be
    rc = make_longtail.main(["--src", str(src), "--people", str(people), "--head-min", "3",
                             "--head-frac", "0.25", "--json", str(tmp_path / "lt.json")])
    assert rc == 0 and "4 people with >= 3 images: 1 head" in capsys.readouterr().out
    sub = read_subset_json(tmp_path / "lt.json")
    assert "P4" not in sub.images and len(sub.images) == 4


def test_image_path_format():
    assert image_path("George_W_Bush", 10) == "images/George_W_Bush/George_W_Bush_0010.jpg"
