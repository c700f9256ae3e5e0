# CLI: export the dlib ResNet port (optionally fine-tuned) to models/<id>.onnx with its model card.
"""Example:
    python scripts/export_onnx.py --out models/dlib-resnet-port
    python scripts/export_onnx.py --out models/dlib-ft --checkpoint runs/ft/ckpt.pt --tta none
Writes <out>.onnx, <out>.json (irface.model-card/1) and <out>.reference.json, after checking
onnxruntime against PyTorch; exits non-zero if any check fails."""
from __future__ import annotations

import argparse
import json
import shlex
import sys

from irface_ml.export import OPSET, export_model
from irface_ml.model_card import TTA_CHOICES


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="output prefix; its last part is the model id")
    parser.add_argument("--checkpoint", default=None,
                        help="DlibResNet state_dict, or a dict with key 'model' (default: face-api's weights)")
    parser.add_argument("--tta", choices=sorted(TTA_CHOICES), default="hflip",
                        help="hflip: the graph sums the embeddings of the crop and its mirror")
    parser.add_argument("--opset", type=int, default=OPSET)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    command = shlex.join(["python", "scripts/export_onnx.py", *argv])
    result = export_model(args.out, checkpoint=args.checkpoint, tta=args.tta, command=command,
                          opset=args.opset)
    card = result["card"]
    print(f"wrote {card['file']} (sha256 {card['sha256'][:16]}...), card and reference")
    print(f"ort vs torch: {json.dumps(result['parity'])}")
    print(f"reference check: {json.dumps(result['reference'])}")
    print(f"flops_per_face: {card['flops_per_face']:,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
