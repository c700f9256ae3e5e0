# Reads a tfjs weights manifest and its binary shards into named float32 numpy arrays.
"""tfjs stores weights as a JSON manifest (names, shapes, dtypes, optional uint8
quantisation) plus raw little-endian shards that are concatenated in manifest order.
Quantised tensors dequantise as value = q * scale + min (per tensor)."""
from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

if TYPE_CHECKING:
    import torch

# Bytes per element of the dtypes a manifest may store (after quantisation, if any).
_STORED_DTYPES = {
    "float32": np.dtype("<f4"),
    "int32": np.dtype("<i4"),
    "uint8": np.dtype("u1"),
    "uint16": np.dtype("<u2"),
}


def _read_shards(manifest_path: Path, group: dict) -> bytes:
    """Concatenate the shards of one weights group in the order the manifest lists them."""
    parts = []
    for rel in group["paths"]:
        shard = manifest_path.parent / rel
        if not shard.is_file():
            raise FileNotFoundError(f"tfjs shard {shard} listed in {manifest_path} does not exist")
        parts.append(shard.read_bytes())
    return b"".join(parts)


def _decode(buf: bytes, offset: int, spec: dict) -> tuple[np.ndarray, int]:
    """Decode one tensor starting at `offset`; returns (float32 array, bytes consumed)."""
    shape = [int(d) for d in spec["shape"]]
    count = int(np.prod(shape)) if shape else 1
    quant = spec.get("quantization")
    stored = quant["dtype"] if quant else spec["dtype"]
    if stored not in _STORED_DTYPES:
        raise ValueError(f"tensor {spec['name']}: unsupported stored dtype {stored!r}, "
                         f"expected one of {sorted(_STORED_DTYPES)}")
    dtype = _STORED_DTYPES[stored]
    nbytes = count * dtype.itemsize
    if offset + nbytes > len(buf):
        raise ValueError(f"tensor {spec['name']} needs bytes {offset}..{offset + nbytes} "
                         f"but the shards hold only {len(buf)}")
    raw = np.frombuffer(buf, dtype=dtype, count=count, offset=offset)
    if quant:
        if "scale" not in quant or "min" not in quant:
            raise ValueError(f"tensor {spec['name']}: quantisation without scale/min: {quant}")
        # Affine dequantisation in float64 then one rounding to float32, as tfjs does in float32;
        # the difference is below 1 ulp of the result.
        values = raw.astype(np.float64) * float(quant["scale"]) + float(quant["min"])
    else:
        values = raw
    return values.astype(np.float32).reshape(shape), nbytes


def load_tfjs_weights(manifest_path: str | Path) -> "OrderedDict[str, np.ndarray]":
    """Return name -> float32 array for every tensor of the manifest, in manifest order.

    Raises if a shard is missing, a name repeats, or the shards are not consumed exactly.
    """
    manifest_path = Path(manifest_path)
    manifest = json.loads(manifest_path.read_text())
    tensors: "OrderedDict[str, np.ndarray]" = OrderedDict()
    for group in manifest:
        buf = _read_shards(manifest_path, group)
        offset = 0
        for spec in group["weights"]:
            if spec["name"] in tensors:
                raise ValueError(f"tensor name {spec['name']} appears twice in {manifest_path}")
            array, used = _decode(buf, offset, spec)
            tensors[spec["name"]] = array
            offset += used
        if offset != len(buf):
            raise ValueError(f"{manifest_path}: manifest describes {offset} bytes but the shards "
                             f"{group['paths']} hold {len(buf)}")
    return tensors


def state_from_tfjs(tensors: "dict[str, np.ndarray]", params: "dict[str, object]",
                    torch_name: "Callable[[str], str]",
                    layout: "Callable[[str, torch.Tensor], torch.Tensor]") -> "dict[str, torch.Tensor]":
    """A PyTorch state dict from tfjs tensors, each used for exactly one parameter.

    tensors: tfjs name -> float32 array (load_tfjs_weights); params: the model's named_parameters();
    torch_name maps a tfjs name to a parameter name; layout(tfjs name, tensor) turns TensorFlow's layout
    into PyTorch's (e.g. HWIO -> OIHW, (in, out) -> (out, in)). Raises KeyError for a tensor that names no
    parameter or one already set and for parameters left unset, ValueError when a shape does not fit.
    """
    import torch

    state: dict[str, torch.Tensor] = {}
    for tf_name, array in tensors.items():
        name = torch_name(tf_name)
        if name not in params:
            raise KeyError(f"face-api tensor {tf_name} maps to {name}, which the port lacks")
        if name in state:
            raise KeyError(f"two face-api tensors map to {name}")
        value = layout(tf_name, torch.from_numpy(array.copy()))
        want = tuple(params[name].shape)
        if tuple(value.shape) != want:
            raise ValueError(f"{tf_name}: shape {tuple(value.shape)} after layout change, expected {want} for {name}")
        state[name] = value.contiguous()
    missing = sorted(set(params) - set(state))
    if missing:
        raise KeyError(f"parameters not set by face-api's weights: {missing}")
    return state
