# Shared pieces of the person-fold driver (run_cv.py): paths, halves, run names, rows, subprocesses.
from __future__ import annotations

import json
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "scripts") not in sys.path:
    sys.path.insert(0, str(ROOT / "scripts"))
from irface_ml.splits import parse_folds, people_of_folds, read_people  # noqa: E402

PY = sys.executable
HALVES = {1: ("1-5", "6-10"), 2: ("6-10", "1-5")}  # half -> (people folds trained on, pair folds evaluated)
BINS = ("1", "2", "3-5", "6-20", ">20")
DRIVER_KEYS = ("longtail",)  # row keys the driver consumes; train.py never sees them (it rejects unknown keys)


@dataclass(frozen=True)
class Layout:
    """Where things are, relative to the repo root (the CLI's defaults; tests point them at a temp dir)."""
    exp: Path = Path("scripts/experiments/cv")  # base.json and one <row>.json per row
    runs: Path = Path("runs/cv")
    lfw: Path = Path("../shared/datasets/lfw/protocol")  # people.txt, pairs.txt
    data: Path = Path(".cache/lfw-aligned")  # the base row's crops (trained rows use their config's data_dir)
    results: Path = Path("docs/experiments/cv-results")  # committed copies of finished runs' results
    models: Path = Path("models")  # where `final` exports <name>.onnx and its card


def people_file(lay: Layout, folds: str) -> Path:
    """<runs>/people-folds<folds>.txt: one name per line, the people of those people.txt folds."""
    path = lay.runs / f"people-folds{folds}.txt"
    if not (ROOT / path).exists():
        names = people_of_folds(read_people(ROOT / lay.lfw / "people.txt"), parse_folds(folds))
        (ROOT / path).parent.mkdir(parents=True, exist_ok=True)
        (ROOT / path).write_text("".join(f"{n}\n" for n in sorted(names)))
    return path


def run_name(row: str, half: int, seed: int) -> str:
    return f"{row}-h{half}-s{seed}"


def row_files(lay: Layout, row: str) -> tuple[Path, Path]:
    """(base.json, <row>.json); an unknown row is an error naming the file it looked for."""
    exp = lay.exp / f"{row}.json"
    if not (ROOT / exp).exists():
        raise SystemExit(f'unknown row "{row}": no {exp}')
    return lay.exp / "base.json", exp


def row_config(lay: Layout, row: str) -> dict:
    """base.json | <row>.json as one flat dict, driver keys (e.g. "longtail") included."""
    base, exp = row_files(lay, row)
    return json.loads((ROOT / base).read_text()) | json.loads((ROOT / exp).read_text())


def train_config_files(lay: Layout, row: str, out: Path) -> list[str]:
    """train.py's --config arguments for a row. A row with driver keys gets <out>/row.json, the row
    without them, so train.py's unknown-key check still guards every other key."""
    base, exp = row_files(lay, row)
    doc = json.loads((ROOT / exp).read_text())
    if not any(k in doc for k in DRIVER_KEYS):
        return ["--config", str(base), "--config", str(exp)]
    (ROOT / out).mkdir(parents=True, exist_ok=True)
    (ROOT / out / "row.json").write_text(json.dumps({k: v for k, v in doc.items() if k not in DRIVER_KEYS},
                                                    indent=2) + "\n")
    return ["--config", str(base), "--config", str(out / "row.json")]


def sh(cmd: list[str], log: Path, commands: list[str]) -> int:
    """Run cmd from the repo root, appending its output to log; the command line is kept for the record."""
    line = shlex.join(cmd)  # copy-pastable into a shell
    commands.append(line)
    print(f"$ {line}", flush=True)
    with open(ROOT / log, "a") as f:
        return subprocess.run(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT).returncode


def trained_epochs(out: Path) -> int:
    """Epochs finished by the run's checkpoint (0 when none): read from log.csv, which train.py writes
    just before the checkpoint of the same epoch."""
    log = ROOT / out / "log.csv"
    ckpt = ROOT / out / "ckpt.pt"
    if not (log.exists() and ckpt.exists()):
        return 0
    rows = log.read_text().splitlines()[1:]
    return int(rows[-1].split(",")[0]) if rows else 0


def git_commit(ignore: tuple[str, ...] = ()) -> str:
    """HEAD's commit of the repo, with "+dirty" when tracked files differ from it ("unknown" outside git).
    `ignore`: glob patterns relative to the repo root (e.g. the model files a call is about to replace) left out
    of the dirty check; patterns outside the repo are dropped."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    inside = [g for g in ignore if not Path(g).is_absolute() and not g.startswith("..")]
    specs = ["--", ".", *(f":(exclude,glob){g}" for g in inside)] if inside else []
    try:
        return git("rev-parse", "HEAD") + ("+dirty" if git("status", "--porcelain", "--untracked-files=no", *specs)
                                           else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
