"""The delivery note's Code 128 encoder against the standard's known values."""

import re

import pytest

from orders.barcode import PATTERNS, START_A, STOP, BarcodeError, code128_checksum, code128_modules, code128_svg, code128_symbols


def test_every_pattern_is_eleven_modules_and_distinct():
    assert len(PATTERNS) == 107
    assert all(sum(map(int, p)) == 11 for p in PATTERNS[:106])
    assert sum(map(int, PATTERNS[STOP])) == 13
    assert len(set(PATTERNS)) == 107


def test_start_and_stop_patterns_are_the_standards():
    # Start A, B, C and stop as every Code 128 reference lists them (1 = bar, 0 = space).
    modules = code128_modules("")
    assert modules.startswith("11010010000")  # start B
    assert modules.endswith("1100011101011")  # stop
    assert code128_modules("").count("1") > 0
    assert "".join(("1" if i % 2 == 0 else "0") * int(w) for i, w in enumerate(PATTERNS[START_A])) == "11010000100"
    assert "".join(("1" if i % 2 == 0 else "0") * int(w) for i, w in enumerate(PATTERNS[105])) == "11010011100"


def test_checksum_of_the_reference_example():
    # "PJJ123C" in code set A: 103 + 48·1 + 42·2 + 42·3 + 17·4 + 18·5 + 19·6 + 35·7 = 878; 878 mod 103 = 54.
    assert code128_checksum(START_A, [48, 42, 42, 17, 18, 19, 35]) == 54


def test_symbols_of_a_shipment_number():
    # "ASN-000042" in code set B: start 104, values ord(c) - 32, the check symbol, stop.
    values = [ord(c) - 32 for c in "ASN-000042"]
    check = (104 + sum(i * v for i, v in enumerate(values, start=1))) % 103
    assert code128_symbols("ASN-000042") == [104, *values, check, 106]
    assert len(code128_modules("ASN-000042")) == 11 * (len(values) + 2) + 13
    # "A" is value 33 in code set B, whose symbol the standard's table gives as 10100011000.
    assert code128_modules("A")[11:22] == "10100011000"


def test_svg_draws_one_rect_per_bar_and_escapes_the_caption():
    svg = code128_svg("A<&>")
    bars = code128_modules("A<&>")
    assert len(re.findall(r"<rect x=", svg)) == len(re.findall("1+", bars))
    assert "A&lt;&amp;&gt;" in svg and "A<&>" not in svg


def test_characters_outside_code_set_b_are_refused():
    with pytest.raises(BarcodeError):
        code128_symbols("送货单")
