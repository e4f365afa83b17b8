"""receivers/_body.py: gzip bodies decompressed under a limit, member by member; deflate too."""

from __future__ import annotations

import gzip
import random
import zlib
from collections.abc import Callable

import pytest

from glassline.collector.errors import PermanentError
from glassline.collector.receivers._body import gunzip, inflate

LIMIT = 8 * 1024 * 1024


class _Ticket:
    """Admission's ticket as gunzip uses it: the bytes reserved so far."""

    reserved = 0

    def reserve(self, size: int) -> None:
        self.reserved = size


def _gunzip(body: bytes) -> bytes:
    return gunzip(body, _Ticket(), limit=LIMIT)  # type: ignore[arg-type]


@pytest.mark.parametrize("members", [1, 2, 3])
@pytest.mark.parametrize("size", [0, 1, 65_535, 65_536, 300_000, 1_000_000])
def test_members_of_any_size_decompress_to_what_was_compressed(members: int, size: int) -> None:
    rng = random.Random(size)
    data = rng.randbytes(size // 2) + bytes(size // 2)  # a part zlib cannot shrink, a part it can
    parts = [data[i::members] for i in range(members)]
    assert _gunzip(b"".join(gzip.compress(part) for part in parts)) == b"".join(parts)


@pytest.mark.parametrize("size", [10, 300_000])
def test_cut_or_trailed_gzip_is_refused_as_such(size: int) -> None:
    body = gzip.compress(random.Random(1).randbytes(size)) * 2
    with pytest.raises(PermanentError, match="truncated gzip"):
        _gunzip(body[:-5])
    with pytest.raises(PermanentError, match="bytes of trailing data after the gzip"):
        _gunzip(body + b"more")


def test_many_empty_members_are_refused_at_once() -> None:
    # 7 MB of empty members took the front's event loop minutes of copying: zlib copies the
    # input left over after each member, and it was given the whole body each time.
    body = gzip.compress(b"") * 1_001
    with pytest.raises(PermanentError, match="more than 1000 gzip members"):
        _gunzip(body)
    assert _gunzip(gzip.compress(b"") * 1_000) == b""


def test_a_bomb_is_refused_once_its_output_passes_the_limit() -> None:
    ticket = _Ticket()
    with pytest.raises(PermanentError, match="decompressed body exceeds") as caught:
        gunzip(gzip.compress(bytes(LIMIT + 1)), ticket, limit=LIMIT)  # type: ignore[arg-type]
    assert caught.value.http_status == 413
    assert ticket.reserved <= 2 * LIMIT


def _raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


@pytest.mark.parametrize("size", [0, 1, 65_536, 1_000_000])
@pytest.mark.parametrize("deflate", [zlib.compress, _raw_deflate])
def test_a_zlib_or_raw_deflate_body_inflates_to_what_was_compressed(
    size: int, deflate: Callable[[bytes], bytes]
) -> None:
    data = random.Random(size).randbytes(size // 2) + bytes(size // 2)
    assert inflate(deflate(data), _Ticket(), limit=LIMIT) == data  # type: ignore[arg-type]


def test_cut_trailed_broken_or_too_large_deflate_is_refused_as_such() -> None:
    body = zlib.compress(random.Random(2).randbytes(300_000))
    for bad, message in (
        (body[:-5], "truncated deflate"),
        (body + b"more", "bytes of trailing data after the deflate"),
        (b"\x78\x9c" + b"\xff" * 50, "not valid deflate"),
        (zlib.compress(bytes(LIMIT + 1)), "decompressed body exceeds"),
    ):
        with pytest.raises(PermanentError, match=message):
            inflate(bad, _Ticket(), limit=LIMIT)  # type: ignore[arg-type]
