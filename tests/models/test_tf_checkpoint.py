"""cmpcv.models.tf_checkpoint on checkpoints TensorFlow itself wrote (tests/models/fixtures)."""
from __future__ import annotations

import os
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from cmpcv.models import tf_checkpoint as tfc
from tests.models.fixtures.write_tf_checkpoints import fixture_variables

FIXTURES = Path(__file__).parent / "fixtures" / "tf_checkpoints"


def test_crc32c_matches_the_standard_check_value_and_the_bytewise_definition():
    assert tfc.crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value (RFC 3720)
    assert tfc.crc32c(b"") == 0
    rng = np.random.default_rng(0)
    for n in (1, 4095, 4096, 70_001, 300_000):  # below and above the chunked path
        data = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        assert tfc.crc32c(data) == tfc._crc_update(0xFFFFFFFF, data) ^ 0xFFFFFFFF, n


@pytest.mark.parametrize("name", ["v1.ckpt", "v2.ckpt", "v2.ckpt.index"])
def test_reads_every_variable_tensorflow_wrote(name):
    got = tfc.read_checkpoint(FIXTURES / name)
    expected = fixture_variables()
    assert set(got) == set(expected)
    for key, value in expected.items():
        assert got[key].dtype == value.dtype, key
        assert got[key].shape == value.shape, key
        np.testing.assert_array_equal(got[key], value, err_msg=key)


def test_v2_data_corruption_is_caught_by_the_tensor_checksum(tmp_path):
    for f in FIXTURES.glob("v2.ckpt*"):
        shutil.copy(f, tmp_path / f.name)
    data = tmp_path / "v2.ckpt.data-00000-of-00001"
    raw = bytearray(data.read_bytes())
    raw[100] ^= 0x01
    data.write_bytes(bytes(raw))
    with pytest.raises(tfc.CheckpointFormatError, match=r"v2.ckpt.index.*checksum mismatch for variable"):
        tfc.read_checkpoint(tmp_path / "v2.ckpt")
    data.unlink()
    with pytest.raises(tfc.CheckpointFormatError, match="data file v2.ckpt.data-00000-of-00001 is missing"):
        tfc.read_checkpoint(tmp_path / "v2.ckpt")


def test_v1_corruption_truncation_and_foreign_files_are_named(tmp_path):
    raw = (FIXTURES / "v1.ckpt").read_bytes()
    flipped = bytearray(raw)
    flipped[len(raw) // 3] ^= 0x40
    (tmp_path / "flipped.ckpt").write_bytes(bytes(flipped))
    with pytest.raises(tfc.CheckpointFormatError, match=r"flipped.ckpt.*checksum mismatch"):
        tfc.read_checkpoint(tmp_path / "flipped.ckpt")
    (tmp_path / "cut.ckpt").write_bytes(raw[: len(raw) - 100])
    with pytest.raises(tfc.CheckpointFormatError, match=r"cut.ckpt: not a TensorFlow checkpoint table"):
        tfc.read_checkpoint(tmp_path / "cut.ckpt")
    (tmp_path / "short.ckpt").write_bytes(b"PK\x03\x04")
    with pytest.raises(tfc.CheckpointFormatError, match="too short for a TensorFlow table"):
        tfc.read_checkpoint(tmp_path / "short.ckpt")
    (tmp_path / "noise.ckpt").write_bytes(os.urandom(200))
    with pytest.raises(tfc.CheckpointFormatError, match="no table magic number"):
        tfc.read_checkpoint(tmp_path / "noise.ckpt")
    with pytest.raises(FileNotFoundError, match=r"neither absent.ckpt.index \(V2\) nor the file absent.ckpt \(V1\)"):
        tfc.read_checkpoint(tmp_path / "absent.ckpt")


def test_table_keys_are_rebuilt_across_prefix_compression_and_restart_points():
    keys = [k for k, _ in tfc.table_entries(FIXTURES / "v2.ckpt.index")]
    names = sorted(fixture_variables())
    # The header entry "" first, then every variable in sorted order: 21 keys, so the block holds
    # a restart point (every 16 keys) with keys sharing "res4b" prefixes around it.
    assert keys == [b""] + [n.encode() for n in names]
    footer = (FIXTURES / "v2.ckpt.index").read_bytes()[-8:]
    assert struct.unpack("<Q", footer)[0] == 0xDB4775248B80FB57
