"""netcl checkpoints for PyTorch: converts both ways between a netcl checkpoint file and
torch.optim.RMSprop's state_dict() (and a model's state_dict()).

A netcl checkpoint is a safetensors file: an 8-byte little-endian header length, a JSON header
mapping each tensor's name to its dtype, shape and data_offsets (plus "__metadata__", string to
string), padded with spaces to a multiple of 8, then the tensors' bytes back to back. The
optimizer's state uses PyTorch's names: tensors state.<i>.square_avg, state.<i>.momentum_buffer,
state.<i>.grad_avg; in __metadata__ state.<i>.step, param_groups (PyTorch's list as JSON) and
format_version. Any other tensor is the user's (a model's parameters). See docs/checkpoints.md.

Mixed precision: netcl keeps a float32 master copy of each bf16/fp16 parameter (tensor
state.<i>.master). PyTorch's RMSprop has no such state: with torch.autocast the parameters
themselves are float32, so a master IS the PyTorch parameter. load_optimizer_state_dict leaves
masters out; load_masters returns them ({id: float32 tensor}) to copy into the float32 model,
and save(masters=...) writes them. A GradScaler's state_dict() travels as scaler.<key> metadata
(load_scaler_state_dict, save(scaler=...)).

This module reads and writes the format itself with struct, json and torch only (no safetensors
package), so it is a second, independent implementation of it.

    import netcl_checkpoint as nc
    # PyTorch -> netcl
    nc.save("run.safetensors", optimizer=opt, model=model.state_dict())
    # netcl -> PyTorch
    model.load_state_dict(nc.load_model_state_dict("run.safetensors", like=model.state_dict()))
    opt.load_state_dict(nc.load_optimizer_state_dict("run.safetensors", opt))
"""
import json
import os
import struct
import sys

import torch

FORMAT_VERSION = 1
MAX_HEADER_BYTES = 100_000_000
STATE_BUFFERS = ("square_avg", "momentum_buffer", "grad_avg")

# safetensors dtype names and the torch types this torch has for them.
_DTYPES = {
    "BOOL": torch.bool, "U8": torch.uint8, "I8": torch.int8, "I16": torch.int16, "F16": torch.float16,
    "BF16": torch.bfloat16, "I32": torch.int32, "F32": torch.float32, "F64": torch.float64, "I64": torch.int64,
    "C64": torch.complex64,
}
_NAMES = {v: k for k, v in _DTYPES.items()}
# Every dtype the format knows, with its width in bits (for validation, even where torch lacks the type).
_BITS = {"BOOL": 8, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8,
         "F8_E8M0": 8, "F8_E4M3FNUZ": 8, "F8_E5M2FNUZ": 8, "I16": 16, "U16": 16, "F16": 16, "BF16": 16, "I32": 32,
         "U32": 32, "F32": 32, "C64": 64, "F64": 64, "I64": 64, "U64": 64}

if sys.byteorder != "little":
    raise ImportError("netcl_checkpoint writes tensors as they lie in memory: it needs a little-endian machine")


class CheckpointError(ValueError):
    """A file that is not a valid checkpoint, or that does not fit what it is loaded into."""

    def __init__(self, path, problem):
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


# ---- the safetensors format -------------------------------------------------------------------

def write_safetensors(path, tensors, metadata=None):
    """Writes {name: tensor} and {key: value} (strings) to path, atomically: a temporary file in
    the same folder, flushed and fsynced, renamed over path, then the folder fsynced. Tensors with
    wider elements come first, so every tensor stays aligned to its element size."""
    items = []
    for name, tensor in tensors.items():
        if name == "__metadata__":
            raise ValueError("'__metadata__' cannot name a tensor")
        t = tensor.detach().cpu().contiguous()
        if t.dtype not in _NAMES:
            raise ValueError(f"tensor '{name}': dtype {t.dtype} has no safetensors name here")
        items.append((name, t))
    items.sort(key=lambda item: -item[1].element_size())   # stable: equal widths keep their order
    header = {}
    if metadata:
        for key, value in metadata.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise ValueError(f"metadata must map strings to strings, got {key!r}: {value!r}")
        header["__metadata__"] = dict(metadata)
    offset = 0
    for name, t in items:
        size = t.numel() * t.element_size()
        header[name] = {"dtype": _NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + size]}
        offset += size
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)
    if len(text) > MAX_HEADER_BYTES:
        raise ValueError(f"the header would have {len(text)} bytes, over the limit of {MAX_HEADER_BYTES}")
    folder = os.path.dirname(os.path.abspath(path))
    temporary = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    try:
        with open(temporary, "xb") as f:
            f.write(struct.pack("<Q", len(text)))
            f.write(text)
            for _, t in items:
                if t.numel():
                    f.write(memoryview(t.reshape(-1).view(torch.uint8).numpy()))
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _no_duplicates(path):
    def hook(pairs):
        result = {}
        for key, value in pairs:
            if key in result:
                raise CheckpointError(path, f"duplicate name in the header: '{key}'")
            result[key] = value
        return result
    return hook


def _unsigned_list(path, name, field, value):
    if not isinstance(value, list) or any(type(v) is not int or v < 0 or v >= 2 ** 63 for v in value):
        raise CheckpointError(path, f"tensor '{name}': {field} is not a list of integers in 0 .. 2^63 - 1")
    return value


def read_safetensors(path):
    """Reads and validates path; returns ({name: tensor}, metadata) with the tensors in file
    order. Refuses what the reference implementation refuses, and duplicate names."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise CheckpointError(path, f"the file has {len(data)} bytes, too few for the 8-byte header length")
    (n,) = struct.unpack_from("<Q", data, 0)
    if n > MAX_HEADER_BYTES:
        raise CheckpointError(path, f"the header length {n} is over the limit of {MAX_HEADER_BYTES} bytes")
    if 8 + n > len(data):
        raise CheckpointError(path, f"the header length {n} goes beyond the end of the file ({len(data)} bytes)")
    try:
        text = data[8:8 + n].decode("utf-8")
    except UnicodeDecodeError as e:
        raise CheckpointError(path, f"the header is not valid UTF-8 ({e.reason} at byte {e.start})") from None
    if not text.lstrip(" \t\r\n").startswith("{"):
        raise CheckpointError(path, "the header does not start with '{'")
    try:
        header = json.loads(text, object_pairs_hook=_no_duplicates(path),
                            parse_constant=lambda c: (_ for _ in ()).throw(ValueError(f"{c} is not JSON")))
    except CheckpointError:
        raise
    except ValueError as e:
        raise CheckpointError(path, f"the header is not valid JSON: {e}") from None
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or any(not isinstance(v, str) for v in metadata.values()):
        raise CheckpointError(path, "__metadata__ is not an object of strings")
    entries = []
    for name, info in header.items():
        if not isinstance(info, dict):
            raise CheckpointError(path, f"tensor '{name}' is not a JSON object")
        for field in ("dtype", "shape", "data_offsets"):
            if field not in info:
                raise CheckpointError(path, f"tensor '{name}' has no {field}")
        dtype = info["dtype"]
        if dtype not in _BITS:
            raise CheckpointError(path, f"tensor '{name}': unknown dtype '{dtype}'")
        shape = _unsigned_list(path, name, "shape", info["shape"])
        offsets = _unsigned_list(path, name, "data_offsets", info["data_offsets"])
        if len(offsets) != 2:
            raise CheckpointError(path, f"tensor '{name}': data_offsets has {len(offsets)} values, not 2")
        entries.append((offsets[0], offsets[1], name, dtype, shape))
    entries.sort(key=lambda e: (e[0], e[1]))
    expected = 0
    for begin, end, name, dtype, shape in entries:
        if end < begin:
            raise CheckpointError(path, f"tensor '{name}': data_offsets [{begin}, {end}] end before they begin")
        if begin != expected:
            raise CheckpointError(path, f"tensor '{name}' begins at {begin}, "
                                  + ("leaving a hole" if begin > expected else "inside the tensor before it"))
        numel = 1
        for d in shape:
            numel *= d
        bits = numel * _BITS[dtype]
        if bits >= 2 ** 64 or bits % 8:
            raise CheckpointError(path, f"tensor '{name}': shape {shape} of {dtype} overflows or does not fill whole bytes")
        if bits // 8 != end - begin:
            raise CheckpointError(path, f"tensor '{name}': shape {shape} of {dtype} needs {bits // 8} bytes, "
                                  f"data_offsets give {end - begin}")
        expected = end
    if 8 + n + expected != len(data):
        raise CheckpointError(path, f"the tensors cover {expected} bytes, but the data section after the header "
                              f"holds {len(data) - 8 - n}")
    tensors = {}
    buffer = bytearray(data)
    for begin, end, name, dtype, shape in entries:
        if dtype not in _DTYPES:
            raise CheckpointError(path, f"tensor '{name}': this torch has no type for {dtype}")
        start = 8 + n + begin
        numel = (end - begin) // torch.empty(0, dtype=_DTYPES[dtype]).element_size()
        flat = torch.frombuffer(buffer, dtype=_DTYPES[dtype], count=numel, offset=start) if numel \
            else torch.empty(0, dtype=_DTYPES[dtype])
        tensors[name] = flat.clone().reshape(shape)
    return tensors, dict(metadata)


# ---- optimizer and model state ----------------------------------------------------------------

def _plain(value):
    """A param_groups value as JSON holds it (a tensor lr becomes a number)."""
    if isinstance(value, torch.Tensor):
        return value.item()
    return value


def optimizer_to_tensors(state_dict):
    """torch.optim.RMSprop.state_dict() -> ({name: tensor}, metadata) under netcl's names."""
    tensors = {}
    metadata = {"format_version": str(FORMAT_VERSION)}
    groups = [{k: (v if k == "params" else _plain(v)) for k, v in g.items()} for g in state_dict["param_groups"]]
    metadata["param_groups"] = json.dumps(groups, separators=(",", ":"))
    for pid, state in state_dict["state"].items():
        step = state["step"]
        step = int(step.item()) if isinstance(step, torch.Tensor) else int(step)
        metadata[f"state.{pid}.step"] = str(step)
        for buffer in STATE_BUFFERS:
            if buffer in state:
                tensors[f"state.{pid}.{buffer}"] = state[buffer].to(torch.float32)
    return tensors, metadata


SCALER_KEYS = ("scale", "growth_factor", "backoff_factor", "growth_interval", "_growth_tracker")


def save(path, optimizer=None, model=None, metadata=None, scaler=None, masters=None):
    """Saves an RMSprop optimizer (or its state_dict()), a model's state_dict() (or any
    {name: tensor}) and string metadata as one netcl checkpoint; optionally a GradScaler (or its
    state_dict()) and float32 masters {parameter id: tensor} for netcl's bf16/fp16 parameters
    (ids with optimizer state only)."""
    tensors, header = {}, {"format_version": str(FORMAT_VERSION)}
    if optimizer is not None:
        state_dict = optimizer.state_dict() if hasattr(optimizer, "state_dict") else optimizer
        tensors, header = optimizer_to_tensors(state_dict)
    for pid, master in (masters or {}).items():
        if f"state.{pid}.step" not in header:
            raise ValueError(f"a master for parameter {pid}, which has no optimizer state")
        tensors[f"state.{pid}.master"] = master.detach().to(torch.float32).reshape(-1)
    scaler_state = scaler.state_dict() if hasattr(scaler, "state_dict") else (scaler or {})
    for key, value in scaler_state.items():
        if key not in SCALER_KEYS:
            raise ValueError(f"unknown GradScaler state key '{key}'")
        header[f"scaler.{key}"] = repr(float(value)) if key in ("scale", "growth_factor", "backoff_factor") \
            else str(int(value))
    for name, tensor in (model or {}).items():
        if name.startswith("state.") or name.startswith("scaler.") or name in tensors:
            raise ValueError(f"tensor name '{name}' is reserved for the optimizer's state")
        tensors[name] = tensor
    for key, value in (metadata or {}).items():
        if key in ("format_version", "param_groups") or key.startswith("state.") or key.startswith("scaler."):
            raise ValueError(f"metadata key '{key}' is reserved for the optimizer's state")
        header[key] = value
    write_safetensors(path, tensors, header)


def _check_version(path, metadata):
    version = metadata.get("format_version")
    if version is None:
        raise CheckpointError(path, "missing required entry format_version in __metadata__")
    if not version.isdigit() or int(version) < 1:
        raise CheckpointError(path, f"format_version is '{version}', not a version number")
    if int(version) > FORMAT_VERSION:
        raise CheckpointError(path, f"format version {version} is newer than this module reads ({FORMAT_VERSION})")


def load_optimizer_state_dict(path, optimizer=None):
    """The file's optimizer state as torch.optim.RMSprop.state_dict() holds it. With optimizer,
    each state tensor takes the shape of its parameter (netcl's are one-dimensional)."""
    tensors, metadata = read_safetensors(path)
    _check_version(path, metadata)
    if "param_groups" not in metadata:
        raise CheckpointError(path, "missing required entry param_groups in __metadata__")
    groups = json.loads(metadata["param_groups"])
    shapes = {}
    if optimizer is not None:
        mine = [p for g in optimizer.param_groups for p in g["params"]]
        saved = [pid for g in groups for pid in g["params"]]
        if len(mine) != len(saved):
            raise CheckpointError(path, f"the file has {len(saved)} parameters, the optimizer {len(mine)}")
        shapes = {pid: p.shape for pid, p in zip(saved, mine)}
    state = {}
    for key, value in metadata.items():
        if not key.startswith("state."):
            continue
        _, pid, field = key.split(".", 2)
        if field != "step" or not value.isdigit():
            raise CheckpointError(path, f"bad optimizer entry {key} = '{value}'")
        state[int(pid)] = {"step": int(value)}
    for name, tensor in tensors.items():
        if not name.startswith("state."):
            continue
        _, pid, buffer = name.split(".", 2)
        if buffer == "master" and int(pid) in state:
            continue   # netcl's float32 master copy: see load_masters
        if buffer not in STATE_BUFFERS or int(pid) not in state:
            raise CheckpointError(path, f"unexpected optimizer tensor '{name}'")
        shape = shapes.get(int(pid))
        state[int(pid)][buffer] = tensor.reshape(shape) if shape is not None else tensor
    for pid, s in state.items():
        if "square_avg" not in s:
            raise CheckpointError(path, f"missing required tensor state.{pid}.square_avg")
    return {"state": state, "param_groups": groups}


def load_masters(path, optimizer=None):
    """netcl's float32 master copies {parameter id: tensor} (bf16/fp16 parameters only): the
    values PyTorch's float32 parameters should take. With optimizer, each takes its parameter's
    shape."""
    tensors, _ = read_safetensors(path)
    mine = [p for g in optimizer.param_groups for p in g["params"]] if optimizer is not None else None
    masters = {}
    for name, tensor in tensors.items():
        if name.startswith("state.") and name.endswith(".master"):
            pid = int(name.split(".")[1])
            masters[pid] = tensor.reshape(mine[pid].shape) if mine is not None else tensor
    return masters


def load_scaler_state_dict(path):
    """The file's GradScaler state as GradScaler.state_dict() holds it ({} when saved without
    one, as a disabled scaler's state is)."""
    _, metadata = read_safetensors(path)
    state = {}
    for key, value in metadata.items():
        if not key.startswith("scaler."):
            continue
        name = key[len("scaler."):]
        if name not in SCALER_KEYS:
            raise CheckpointError(path, f"unknown scaler entry '{key}'")
        try:
            state[name] = float(value) if name in ("scale", "growth_factor", "backoff_factor") else int(value)
        except ValueError:
            raise CheckpointError(path, f"{key} is '{value}', not a number") from None
    if state and set(state) != set(SCALER_KEYS):
        raise CheckpointError(path, f"scaler entries {sorted(set(SCALER_KEYS) - set(state))} are missing")
    return state


def load_model_state_dict(path, like=None):
    """The file's own tensors (not the optimizer's), by name. With like (a model's
    state_dict()), each tensor takes the shape of its namesake there."""
    tensors, _ = read_safetensors(path)
    model = {name: t for name, t in tensors.items() if not name.startswith("state.")}
    if like is not None:
        for name, t in model.items():
            if name in like and like[name].numel() == t.numel():
                model[name] = t.reshape(like[name].shape)
    return model
