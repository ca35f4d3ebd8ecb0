"""The raw page's compressed form (extractors.records): a plain zlib stream, whatever compresses
it, since the warehouse's html_zlib column is read back with zlib (marsad reextract, and anyone
reading the column themselves)."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

from extractors.records import compress_html, decompress_html

ARABIC = Path(__file__).parent / "fixtures" / "arabic"


def test_a_page_compresses_to_a_zlib_stream_that_zlib_reads_back() -> None:
    page = gzip.decompress((ARABIC / "cnn-arabic.html.gz").read_bytes()).decode("utf-8")
    packed = compress_html(page)
    assert zlib.decompress(packed) == page.encode("utf-8")  # the standard library's zlib
    assert decompress_html(packed) == page
    assert len(packed) * 3 < len(page.encode("utf-8"))  # compressed, not stored
    assert compress_html(page, page.encode("utf-8")) == packed  # from the bytes the caller has


def test_a_text_with_a_lone_surrogate_survives_the_round_trip() -> None:
    page = "<p>نص \udc80 ok</p>"  # what a decoder with surrogateescape can leave
    assert decompress_html(compress_html(page)) == page


def test_an_empty_page_round_trips() -> None:  # a kept page with no HTML (warehouse.load)
    assert zlib.decompress(compress_html("")) == b""
    assert decompress_html(compress_html("")) == ""
