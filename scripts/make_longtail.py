"""Make a controlled long-tail training subset of a folder-per-identity dataset (JSON and/or a symlink folder).

Example (LFW View 1: only DevTrain people, so DevTest stays unseen):
  python scripts/make_longtail.py --src ../shared/datasets/lfw/images \
      --people ../shared/datasets/lfw/protocol/peopleDevTrain.txt \
      --json runs/longtail_devtrain.json --link-dir runs/longtail_devtrain
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter

from irface_ml.splits import (
    LongTailConfig, make_longtail, read_people, scan_identity_folder, write_subset_json, write_subset_symlinks,
)


def main(argv: list[str] | None = None) -> int:
    d = LongTailConfig()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", required=True, help="folder with one sub-folder of images per identity")
    ap.add_argument("--people", help="LFW people file (e.g. peopleDevTrain.txt): only these people are used")
    ap.add_argument("--json", help="write the subset description here")
    ap.add_argument("--link-dir", help="write out/<person>/<image> symlinks here (must be empty or absent)")
    ap.add_argument("--head-frac", type=float, default=d.head_frac, help="fraction of people kept whole")
    ap.add_argument("--head-min", type=int, default=d.head_min, help="only people with at least this many images")
    ap.add_argument("--tail-min", type=int, default=d.tail_min, help="fewest images a tail person keeps")
    ap.add_argument("--tail-max", type=int, default=d.tail_max, help="most images a tail person keeps")
    ap.add_argument("--seed", type=int, default=d.seed)
    args = ap.parse_args(argv)
    if not (args.json or args.link_dir):
        ap.error("nothing to write: give --json and/or --link-dir")

    cfg = LongTailConfig(args.head_frac, args.head_min, args.tail_min, args.tail_max, args.seed)
    dataset = scan_identity_folder(args.src)
    if args.people:
        allowed = {name for fold in read_people(args.people) for name in fold}
        missing = allowed - set(dataset)
        dataset = {p: imgs for p, imgs in dataset.items() if p in allowed}
        if missing:
            print(f"note: {len(missing)} people of {args.people} have no images in {args.src}", file=sys.stderr)
    subset = make_longtail(dataset, cfg)

    sizes = Counter(len(subset.images[p]) for p in subset.tail)
    n_imgs = sum(len(v) for v in subset.images.values())
    print(f"{len(subset.head) + len(subset.tail)} people with >= {cfg.head_min} images: "
          f"{len(subset.head)} head (all images), {len(subset.tail)} tail "
          f"({', '.join(f'{sizes[k]} x {k}' for k in sorted(sizes))} images); {n_imgs} images kept")
    if args.json:
        write_subset_json(subset, args.json)
        print(f"wrote {args.json}")
    if args.link_dir:
        n = write_subset_symlinks(subset, args.src, args.link_dir)
        print(f"linked {n} images under {args.link_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
