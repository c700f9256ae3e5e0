"""LFW protocol readers (View 1/2 pairs and people), leakage checks, and a controlled long-tail subset maker."""
from __future__ import annotations

import json
import os
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

IMAGE_EXTS = (".jpg", ".jpeg", ".png")


def image_path(name: str, num: int) -> str:
    """LFW image path relative to the dataset root, from a 1-based image number."""
    return f"images/{name}/{name}_{num:04d}.jpg"


@dataclass(frozen=True)
class Pair:
    name1: str
    num1: int  # 1-based, as in the protocol files
    name2: str
    num2: int
    same: bool

    def paths(self) -> tuple[str, str]:
        return image_path(self.name1, self.num1), image_path(self.name2, self.num2)


def _lines(path: str | os.PathLike) -> list[list[str]]:
    return [ln.split() for ln in Path(path).read_text().splitlines() if ln.strip()]


def read_pairs(path: str | os.PathLike) -> list[list[Pair]]:
    """Folds of pairs from pairs.txt (header `folds n`) or pairsDevTrain/DevTest.txt (header `n`, one fold).

    Each fold is n same pairs (`name i j`) followed by n different pairs (`name1 i name2 j`).
    """
    rows = _lines(path)
    header = [int(t) for t in rows[0]]
    n_folds, n = (1, header[0]) if len(header) == 1 else header
    if len(rows) - 1 != n_folds * 2 * n:
        raise ValueError(f"{path}: header says {n_folds} folds x {2 * n} pairs, found {len(rows) - 1} lines")
    folds, i = [], 1
    for _ in range(n_folds):
        fold = []
        for same in (True, False):
            for r in rows[i : i + n]:
                if same and len(r) == 3:
                    fold.append(Pair(r[0], int(r[1]), r[0], int(r[2]), True))
                elif not same and len(r) == 4 and r[0] != r[2]:
                    fold.append(Pair(r[0], int(r[1]), r[2], int(r[3]), False))
                else:
                    kind = "same pair `name i j`" if same else "different pair `name1 i name2 j`"
                    raise ValueError(f"{path}: expected a {kind}, got {' '.join(r)!r}")
            i += n
        folds.append(fold)
    return folds


def read_people(path: str | os.PathLike) -> list[dict[str, int]]:
    """Folds of {name: image count} from people.txt (`folds`, then per fold `count` + lines) or
    peopleDevTrain/DevTest.txt (`count` + lines, returned as one fold)."""
    rows = _lines(path)
    multi = len(rows) > 1 and len(rows[1]) == 1  # people.txt: the second line is a fold size
    n_folds, i = (int(rows[0][0]), 1) if multi else (1, 0)
    folds = []
    for _ in range(n_folds):
        count = int(rows[i][0])
        block = rows[i + 1 : i + 1 + count]
        if len(block) != count or any(len(r) != 2 for r in block):
            raise ValueError(f"{path}: fold {len(folds)} should list {count} `name count` lines")
        folds.append({r[0]: int(r[1]) for r in block})
        i += 1 + count
    if i != len(rows):
        raise ValueError(f"{path}: {len(rows) - i} unexpected lines after {n_folds} folds")
    return folds


def pair_people(pairs: Iterable[Pair]) -> set[str]:
    """Everyone who appears in the pairs."""
    return {n for p in pairs for n in (p.name1, p.name2)}


def view2_train_people(people_folds: Sequence[Mapping[str, int]], k: int) -> set[str]:
    """People allowed for training when evaluating View 2 fold k: everyone in the other nine folds."""
    if not 0 <= k < len(people_folds):
        raise ValueError(f"fold k must be in [0, {len(people_folds)}), got {k}")
    return {name for j, fold in enumerate(people_folds) if j != k for name in fold}


def parse_folds(text: str, n_folds: int = 10) -> list[int]:
    """1-based fold numbers from "6-10", "1,3,5" or "2" -> sorted 0-based indices; errors name the range."""
    out = set()
    for part in text.split(","):
        lo, _, hi = part.strip().partition("-")
        try:
            a, b = int(lo), int(hi or lo)
        except ValueError:
            raise ValueError(f'folds must look like "6-10" or "1,3,5", got {text!r}') from None
        if not 1 <= a <= b <= n_folds:
            raise ValueError(f"folds must lie in 1..{n_folds}, got {text!r}")
        out.update(range(a - 1, b))
    return sorted(out)


def people_of_folds(people_folds: Sequence[Mapping[str, int]], folds: Iterable[int]) -> set[str]:
    """Everyone in the given 0-based folds of people.txt (View 2: pairs.txt fold k uses people fold k)."""
    folds = list(folds)
    if any(not 0 <= k < len(people_folds) for k in folds):
        raise ValueError(f"folds must be in [0, {len(people_folds)}), got {folds}")
    return {name for k in folds for name in people_folds[k]}


def view1_train_people(dev_train_people: Sequence[Mapping[str, int]]) -> set[str]:
    """People allowed for training when evaluating View 1 DevTest: the DevTrain people."""
    return {name for fold in dev_train_people for name in fold}


def assert_disjoint(train_people: Iterable[str], eval_people: Iterable[str], what: str = "evaluation") -> None:
    """Raise if anyone is in both sets: a model must never be evaluated on people it was trained on."""
    both = sorted(set(train_people) & set(eval_people))
    if both:
        raise ValueError(f"{len(both)} training people also in {what}, e.g. {both[:5]}")


# ---- controlled long tail -------------------------------------------------------------------------


@dataclass
class LongTailConfig:
    head_frac: float = 0.2  # fraction of eligible people kept whole (head classes)
    # Only people with >= head_min images are eligible, head and tail alike, so every tail class
    # has held-out images that give its true center: the tail is made thin, not found thin.
    head_min: int = 10
    tail_min: int = 1  # each tail class keeps a random count in [tail_min, tail_max] of its images
    tail_max: int = 2
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.head_frac <= 1.0:
            raise ValueError(f"head_frac must be in [0, 1], got {self.head_frac}")
        if not 1 <= self.tail_min <= self.tail_max < self.head_min:
            raise ValueError(f"need 1 <= tail_min <= tail_max < head_min, got "
                             f"{self.tail_min}, {self.tail_max}, {self.head_min}")


@dataclass
class LongTailSubset:
    config: LongTailConfig
    head: list[str]  # people kept with all their images, sorted
    tail: list[str]  # people cut to tail_min..tail_max images, sorted
    images: dict[str, list[str]]  # person -> kept images (the training subset)
    held_out: dict[str, list[str]]  # tail person -> images not kept (for true centers / evaluation)


def make_longtail(dataset: Mapping[str, Sequence[str]], cfg: LongTailConfig | None = None) -> LongTailSubset:
    """Deterministic (by cfg.seed) long-tail subset of {person: [images]}; input order does not matter."""
    cfg = cfg or LongTailConfig()
    eligible = sorted(p for p, imgs in dataset.items() if len(set(imgs)) >= cfg.head_min)
    if not eligible:
        raise ValueError(f"no person has >= head_min={cfg.head_min} images")
    rng = random.Random(cfg.seed)
    order = eligible[:]
    rng.shuffle(order)
    n_head = int(round(cfg.head_frac * len(order)))
    head, tail = sorted(order[:n_head]), sorted(order[n_head:])
    images = {p: sorted(set(dataset[p])) for p in head}
    held_out = {}
    for p in tail:
        imgs = sorted(set(dataset[p]))
        keep = set(rng.sample(imgs, rng.randint(cfg.tail_min, cfg.tail_max)))
        images[p] = [x for x in imgs if x in keep]
        held_out[p] = [x for x in imgs if x not in keep]
    return LongTailSubset(cfg, head, tail, dict(sorted(images.items())), held_out)


FORMAT = "irface.longtail/1"


def write_subset_json(subset: LongTailSubset, path: str | os.PathLike) -> None:
    """Self-describing JSON: format tag, config, head/tail people, kept and held-out images."""
    doc = {"format": FORMAT, "config": asdict(subset.config), "head": subset.head, "tail": subset.tail,
           "images": subset.images, "held_out": subset.held_out}
    Path(path).write_text(json.dumps(doc, indent=1) + "\n")


def read_subset_json(path: str | os.PathLike) -> LongTailSubset:
    doc = json.loads(Path(path).read_text())
    if doc.get("format") != FORMAT:
        raise ValueError(f"{path}: expected format {FORMAT!r}, got {doc.get('format')!r}")
    cfg = LongTailConfig(**doc["config"])
    return LongTailSubset(cfg, doc["head"], doc["tail"], doc["images"], doc["held_out"])


def scan_identity_folder(root: str | os.PathLike) -> dict[str, list[str]]:
    """{person: sorted image paths relative to root} for a folder-per-identity dataset."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"dataset folder not found: {root}")
    out = {}
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        imgs = sorted(f"{d.name}/{f.name}" for f in d.iterdir() if f.suffix.lower() in IMAGE_EXTS)
        if imgs:
            out[d.name] = imgs
    return out


def write_subset_symlinks(subset: LongTailSubset, src_root: str | os.PathLike, out_dir: str | os.PathLike) -> int:
    """Mirror the kept images as out_dir/<person>/<file> -> absolute source; returns the link count.

    Images are paths relative to src_root (as scan_identity_folder gives). Refuses a non-empty out_dir
    so a stale subset is never mixed into a new one.
    """
    src, out = Path(src_root).resolve(), Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"output folder is not empty: {out}")
    n = 0
    for person, imgs in subset.images.items():
        (out / person).mkdir(parents=True, exist_ok=True)
        for rel in imgs:
            target = src / rel
            if not target.is_file():
                raise FileNotFoundError(f"image listed in the subset is missing: {target}")
            (out / person / Path(rel).name).symlink_to(target)
            n += 1
    return n
