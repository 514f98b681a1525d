"""Read TensorFlow checkpoints without TensorFlow: ``{variable name: np.ndarray}``.

Both formats a ``tf.train.Saver`` writes are understood:

* **V2** (the default since TF 1.0): ``PREFIX.index`` plus ``PREFIX.data-0000k-of-0000N``. The
  index is a LevelDB-style sorted table whose values are ``BundleEntryProto`` messages (dtype,
  shape, shard, offset, size, masked CRC32C of the bytes); the data files hold the raw
  little-endian tensor bytes.
* **V1** (``Saver(write_version=1)``; the Caffe-converted DeepLab ResNet-101 checkpoints were written
  this way): one table file ``PREFIX`` whose first entry is a ``SavedTensorSliceMeta`` (names,
  shapes, dtypes) and whose other entries are ``SavedSlice`` messages carrying the values in a
  ``TensorProto``.

The table format (footer with magic number, block handles, prefix-compressed keys, restart array,
per-block masked CRC32C) and the few protobuf messages are parsed here directly: a protobuf wire
reader is a page of code, and it keeps TensorFlow and ``protobuf`` out of the dependencies.
Every block checksum and every V2 tensor checksum is verified. String tensors and partitioned
(sliced) V2 variables are reported as unsupported; a checkpoint never needs them for weights.
"""
from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np

_TABLE_MAGIC = 0xDB4775248B80FB57
_FOOTER_SIZE = 48
_BLOCK_TRAILER = 5  # compression type (1 byte) + masked CRC32C (4 bytes)

# TensorFlow DataType enum -> numpy dtype (types.proto). DT_STRING (7) is deliberately absent.
_DTYPES: dict[int, np.dtype] = {
    1: np.dtype("<f4"), 2: np.dtype("<f8"), 3: np.dtype("<i4"), 4: np.dtype("u1"), 5: np.dtype("<i2"),
    6: np.dtype("i1"), 9: np.dtype("<i8"), 10: np.dtype("?"), 17: np.dtype("<u2"), 19: np.dtype("<f2"),
    22: np.dtype("<u4"), 23: np.dtype("<u8"),
}
_DTYPE_NAMES = {7: "string", 8: "complex64", 14: "bfloat16", 18: "complex128"}


class CheckpointFormatError(ValueError):
    """The file is not a readable TensorFlow checkpoint (names the file and what was wrong)."""


# ----------------------------------------------------------------------------------- CRC32C
def _crc_table() -> np.ndarray:
    table = np.zeros(256, dtype=np.uint32)
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table[n] = c
    return table


_CRC_TABLE = _crc_table()
_CRC_LIST = [int(v) for v in _CRC_TABLE]
_SHIFT_TABLES: dict[int, list[list[int]]] = {}


def _shift_tables(length: int) -> list[list[int]]:
    """Four 256-entry tables of the linear map "run the register through ``length`` zero
    bytes", one per register byte: ``shift(c) = T0[c & 255] ^ T1[c >> 8 & 255] ^ ...``."""
    if length not in _SHIFT_TABLES:
        regs = (np.arange(256, dtype=np.uint32)[None, :] << (8 * np.arange(4, dtype=np.uint32))[:, None]).ravel()
        for _ in range(length):
            regs = _CRC_TABLE[regs & 0xFF] ^ (regs >> 8)
        _SHIFT_TABLES[length] = [list(map(int, t)) for t in regs.reshape(4, 256)]
    return _SHIFT_TABLES[length]


def _crc_update(reg: int, data: bytes | memoryview) -> int:
    table = _CRC_LIST
    for byte in bytes(data):
        reg = table[(reg ^ byte) & 0xFF] ^ (reg >> 8)
    return reg


def crc32c(data: bytes | memoryview) -> int:
    """CRC-32C (Castagnoli) of ``data``, as TensorFlow's ``crc32c::Value``.

    Long inputs are cut into equal chunks whose registers advance together in numpy, one byte
    position at a time; CRC is linear over GF(2), so ``crc(A || B) = shift(crc(A), |B|) ^ crc0(B)``
    joins them. The chunk length (a power of two near ``sqrt(n / 8)``) balances the numpy loop over
    positions against the Python loop over chunks.
    """
    data = memoryview(data).cast("B")
    n = len(data)
    if n < 4096:
        return _crc_update(0xFFFFFFFF, data) ^ 0xFFFFFFFF
    length = 1 << max(6, round(np.log2(np.sqrt(n / 8))))
    head = n % length
    reg = _crc_update(0xFFFFFFFF, data[:head])
    chunks = np.frombuffer(data[head:], dtype=np.uint8).reshape(-1, length)
    regs = np.zeros(chunks.shape[0], dtype=np.uint32)
    for j in range(length):
        regs = _CRC_TABLE[(regs ^ chunks[:, j]) & 0xFF] ^ (regs >> 8)
    t0, t1, t2, t3 = _shift_tables(length)
    for r in regs.tolist():
        reg = t0[reg & 0xFF] ^ t1[(reg >> 8) & 0xFF] ^ t2[(reg >> 16) & 0xFF] ^ t3[reg >> 24] ^ r
    return reg ^ 0xFFFFFFFF


def masked_crc32c(data: bytes | memoryview) -> int:
    """The masked form TensorFlow stores (``crc32c::Mask``)."""
    crc = crc32c(data)
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


# ----------------------------------------------------------------------------------- protobuf
def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    result, shift = 0, 0
    while True:
        if pos >= len(buf):
            raise CheckpointFormatError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise CheckpointFormatError("varint longer than 10 bytes")


def _fields(buf: memoryview) -> Iterator[tuple[int, int, int | memoryview]]:
    """``(field number, wire type, value)`` of one protobuf message: varints as int, fixed32/64
    and length-delimited fields as memoryviews."""
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = buf[pos:pos + 8], pos + 8
        elif wire == 2:
            length, pos = _varint(buf, pos)
            value, pos = buf[pos:pos + length], pos + length
        elif wire == 5:
            value, pos = buf[pos:pos + 4], pos + 4
        else:
            raise CheckpointFormatError(f"unsupported protobuf wire type {wire} (field {number})")
        if pos > end:
            raise CheckpointFormatError(f"protobuf field {number} runs past the end of its message")
        yield number, wire, value


def _signed(value: int, bits: int = 64) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def _shape(buf: memoryview) -> tuple[int, ...]:
    """TensorShapeProto -> dims (dim = 2 {size = 1}; unknown_rank = 3)."""
    dims: list[int] = []
    for number, _, value in _fields(buf):
        if number == 2:
            size = 0
            for n, _, v in _fields(value):  # type: ignore[arg-type]
                if n == 1:
                    size = _signed(v)  # type: ignore[arg-type]
            dims.append(size)
        elif number == 3 and value:
            raise CheckpointFormatError("a tensor of unknown rank")
    return tuple(dims)


def _dtype(code: int, name: str) -> np.dtype:
    if code not in _DTYPES:
        label = _DTYPE_NAMES.get(code, f"DataType {code}")
        raise CheckpointFormatError(f"variable {name!r} has dtype {label}, which this reader does not support")
    return _DTYPES[code]


# ----------------------------------------------------------------------------------- table
def _block(data: memoryview, offset: int, size: int, where: str) -> memoryview:
    end = offset + size
    if end + _BLOCK_TRAILER > len(data):
        raise CheckpointFormatError(f"{where}: block at {offset} (+{size}) runs past the end of the file")
    contents = data[offset:end]
    kind = data[end]
    if kind != 0:
        raise CheckpointFormatError(f"{where}: block at {offset} is compressed (type {kind}); "
                                    "TensorFlow writes checkpoints uncompressed")
    stored = struct.unpack_from("<I", data, end + 1)[0]
    if masked_crc32c(data[offset:end + 1]) != stored:
        raise CheckpointFormatError(f"{where}: checksum mismatch in the block at byte {offset} (corrupt file)")
    return contents


def _block_entries(block: memoryview, where: str) -> Iterator[tuple[bytes, memoryview]]:
    if len(block) < 4:
        raise CheckpointFormatError(f"{where}: block too short")
    restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    limit = len(block) - 4 * (restarts + 1)
    if limit < 0:
        raise CheckpointFormatError(f"{where}: bad restart count {restarts}")
    pos, key = 0, b""
    while pos < limit:
        shared, pos = _varint(block, pos)
        unshared, pos = _varint(block, pos)
        length, pos = _varint(block, pos)
        if shared > len(key) or pos + unshared + length > limit:
            raise CheckpointFormatError(f"{where}: malformed entry at byte {pos}")
        key = key[:shared] + bytes(block[pos:pos + unshared])
        pos += unshared
        yield key, block[pos:pos + length]
        pos += length


def table_entries(path: str | Path) -> Iterator[tuple[bytes, memoryview]]:
    """Every ``(key, value)`` of a TensorFlow/LevelDB sorted table file, in key order."""
    path = Path(path)
    data = memoryview(path.read_bytes())
    where = str(path)
    if len(data) < _FOOTER_SIZE:
        raise CheckpointFormatError(f"{where}: {len(data)} bytes, too short for a TensorFlow table")
    footer = data[len(data) - _FOOTER_SIZE:]
    if struct.unpack_from("<Q", footer, 40)[0] != _TABLE_MAGIC:
        raise CheckpointFormatError(f"{where}: not a TensorFlow checkpoint table (no table magic number)")
    _, pos = _varint(footer, 0)  # metaindex handle: offset, size (unused)
    _, pos = _varint(footer, pos)
    index_offset, pos = _varint(footer, pos)
    index_size, _ = _varint(footer, pos)
    for _, handle in _block_entries(_block(data, index_offset, index_size, where), where):
        offset, pos = _varint(handle, 0)
        size, _ = _varint(handle, pos)
        yield from _block_entries(_block(data, offset, size, where), where)


# ----------------------------------------------------------------------------------- V2
def _read_v2(prefix: Path) -> dict[str, np.ndarray]:
    index = prefix.with_name(prefix.name + ".index")
    entries: dict[str, dict[int, int | memoryview]] = {}
    num_shards = 1
    for key, value in table_entries(index):
        if key == b"":  # BundleHeaderProto
            for number, _, v in _fields(value):
                if number == 1:
                    num_shards = int(v)  # type: ignore[arg-type]
                elif number == 2 and v:
                    raise CheckpointFormatError(f"{index}: big-endian checkpoints are not supported")
            continue
        entries[key.decode()] = {n: v for n, _, v in _fields(value)}
    shards: dict[int, memoryview] = {}
    out: dict[str, np.ndarray] = {}
    for name, entry in entries.items():
        if 7 in entry:
            raise CheckpointFormatError(f"{index}: variable {name!r} is partitioned (slices); not supported")
        dtype = _dtype(int(entry.get(1, 0)), name)  # type: ignore[arg-type]
        shape = _shape(entry[2]) if 2 in entry else ()  # type: ignore[arg-type]
        shard, offset, size = (int(entry.get(k, 0)) for k in (3, 4, 5))  # type: ignore[arg-type]
        if shard not in shards:
            data_file = prefix.with_name(f"{prefix.name}.data-{shard:05d}-of-{num_shards:05d}")
            if not data_file.is_file():
                raise CheckpointFormatError(f"{index}: data file {data_file.name} is missing next to it")
            shards[shard] = memoryview(data_file.read_bytes())
        raw = shards[shard][offset:offset + size]
        expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if len(raw) != size or size != expected:
            raise CheckpointFormatError(f"{index}: variable {name!r} {shape} needs {expected} bytes, "
                                        f"the entry gives {size} and the data file has {len(raw)}")
        if 6 in entry and masked_crc32c(raw) != struct.unpack("<I", entry[6])[0]:  # type: ignore[arg-type]
            raise CheckpointFormatError(f"{index}: checksum mismatch for variable {name!r} (corrupt data file)")
        out[name] = np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
    return out


# ----------------------------------------------------------------------------------- V1
def _packed(values: list[int | memoryview], wire_types: list[int], kind: str) -> np.ndarray:
    """Values of one repeated numeric field, packed (wire type 2) or not: ``kind`` is "varint"
    (returned as uint64 bit patterns), "f" (float32) or "d" (float64)."""
    parts: list[np.ndarray] = []
    for value, wire in zip(values, wire_types):
        if kind == "varint":
            if wire == 2:
                items, pos = [], 0
                while pos < len(value):  # type: ignore[arg-type]
                    v, pos = _varint(value, pos)  # type: ignore[arg-type]
                    items.append(v)
            else:
                items = [value]
            parts.append(np.array(items, dtype=np.uint64))
        else:
            parts.append(np.frombuffer(value, dtype="<f4" if kind == "f" else "<f8"))  # type: ignore[arg-type]
    return np.concatenate(parts) if parts else np.zeros(0)


# TensorProto field -> (wire kind, decode). Which field holds a dtype's values follows TF's
# TensorSliceWriter (int_val for 8/16/32-bit ints, half_val for float16 bits, ...).
_VALUE_FIELDS = {5: "f", 6: "d", 7: "varint", 10: "varint", 11: "varint", 13: "varint", 16: "varint", 17: "varint"}


def _tensor_values(buf: memoryview, dtype: np.dtype, count: int, name: str) -> np.ndarray:
    collected: dict[int, tuple[list, list]] = {}
    content = None
    for number, wire, value in _fields(buf):
        if number == 4:
            content = bytes(value)  # type: ignore[arg-type]
        elif number in _VALUE_FIELDS:
            vals, wires = collected.setdefault(number, ([], []))
            vals.append(value)
            wires.append(wire)
        elif number in (8, 9, 12, 14, 15):
            raise CheckpointFormatError(f"variable {name!r} stores values in TensorProto field {number}; not supported")
    if content is not None:
        return np.frombuffer(content, dtype=dtype, count=count).copy()
    if not collected:
        return np.zeros(count, dtype=dtype)
    if len(collected) > 1:
        raise CheckpointFormatError(f"variable {name!r}: values in several TensorProto fields {sorted(collected)}")
    number, (vals, wires) = next(iter(collected.items()))
    arr = _packed(vals, wires, _VALUE_FIELDS[number])
    if number == 13:  # float16 bit patterns in an int32 field
        arr = arr.astype(np.uint16).view(np.float16)
    elif _VALUE_FIELDS[number] == "varint" and dtype.kind == "i":
        arr = arr.view(np.int64)  # two's-complement varints of negative ints
    if arr.size == 1 and count > 1:  # TF stores a constant-filled tensor as one value
        arr = np.repeat(arr, count)
    if arr.size != count:
        raise CheckpointFormatError(f"variable {name!r}: {arr.size} values for {count} elements")
    return arr.astype(dtype)


def _slice_index(buf: memoryview, shape: tuple[int, ...]) -> tuple[slice, ...]:
    """TensorSliceProto -> numpy index (an extent without length spans its whole dimension)."""
    extents = [dict((n, v) for n, _, v in _fields(e)) for number, _, e in _fields(buf) if number == 1]  # type: ignore[arg-type]
    if not extents:
        return tuple(slice(None) for _ in shape)
    if len(extents) != len(shape):
        raise CheckpointFormatError(f"slice of rank {len(extents)} for a tensor of shape {shape}")
    index = []
    for extent, dim in zip(extents, shape):
        start = _signed(int(extent.get(1, 0)))
        index.append(slice(start, start + _signed(int(extent[2]))) if 2 in extent else slice(0, dim))
    return tuple(index)


def _read_v1(path: Path) -> dict[str, np.ndarray]:
    metas: dict[str, tuple[tuple[int, ...], np.dtype]] = {}
    out: dict[str, np.ndarray] = {}
    filled: dict[str, int] = {}
    for key, value in table_entries(path):
        for number, _, message in _fields(value):  # SavedTensorSlices: meta = 1, data = 2
            if number == 1:
                for n, _, tensor in _fields(message):  # type: ignore[arg-type]
                    if n != 1:
                        continue
                    meta = {k: v for k, _, v in _fields(tensor)}  # type: ignore[arg-type]
                    name = bytes(meta[1]).decode()  # type: ignore[arg-type]
                    shape = _shape(meta[2]) if 2 in meta else ()  # type: ignore[arg-type]
                    metas[name] = (shape, _dtype(int(meta.get(3, 0)), name))  # type: ignore[arg-type]
            elif number == 2:
                saved = {k: v for k, _, v in _fields(message)}  # type: ignore[arg-type]
                name = bytes(saved[1]).decode()  # type: ignore[arg-type]
                if name not in metas:
                    raise CheckpointFormatError(f"{path}: data for {name!r} before or without its metadata")
                shape, dtype = metas[name]
                index = _slice_index(saved[2], shape) if 2 in saved else tuple(slice(None) for _ in shape)  # type: ignore[arg-type]
                target = out.setdefault(name, np.zeros(shape, dtype=dtype))
                region = target[index] if index else target[...]  # a view, also for scalars
                region[...] = _tensor_values(saved.get(3, memoryview(b"")), dtype, region.size, name).reshape(region.shape)  # type: ignore[arg-type]
                filled[name] = filled.get(name, 0) + region.size
    for name, (shape, _) in metas.items():
        if filled.get(name, 0) != int(np.prod(shape, dtype=np.int64)):
            raise CheckpointFormatError(f"{path}: variable {name!r} {shape} is only partly stored")
    return out


# ----------------------------------------------------------------------------------- public
def checkpoint_files(path: str | Path) -> tuple[str, Path]:
    """``("v2", prefix)`` or ``("v1", file)`` for a checkpoint given by its prefix, its ``.index``
    file or its V1 file; raises FileNotFoundError naming what was looked for."""
    path = Path(path)
    if path.name.endswith(".index"):
        path = path.with_name(path.name[: -len(".index")])
    if path.with_name(path.name + ".index").is_file():
        return "v2", path
    if path.is_file():
        return "v1", path
    raise FileNotFoundError(f"no TensorFlow checkpoint at {path}: neither {path.name}.index (V2) nor "
                            f"the file {path.name} (V1) exists")


def read_checkpoint(path: str | Path) -> dict[str, np.ndarray]:
    """All variables of the checkpoint at ``path`` (a V2 prefix or ``.index`` file, or a V1 file)."""
    kind, where = checkpoint_files(path)
    try:
        return _read_v2(where) if kind == "v2" else _read_v1(where)
    except CheckpointFormatError as exc:
        if str(where) in str(exc):
            raise
        raise CheckpointFormatError(f"{where}: {exc}") from None
