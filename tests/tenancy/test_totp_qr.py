"""The TOTP enrolment page draws the otpauth URI as a QR code: an inline SVG made on the server,
with no image URL and nothing fetched from elsewhere, and the secret still shown as text for who
cannot scan. The SVG is read back here module by module and decoded with a QR decoder."""

import re
import xml.etree.ElementTree as ET

import pyotp
import pytest
import segno
import zxingcpp
from PIL import Image

from scm_portal.tenancy.models import TotpDevice
from scm_portal.tenancy.totp_views import totp_qr_svg
from tests.api_contract import user

pytestmark = pytest.mark.django_db
PATH_TOKENS = re.compile(r"[MmHhVvZz]|-?\d+(?:\.\d+)?")


def svg_of(html):
    """The <svg> inside the page's QR block, as an element."""
    block = re.search(r'data-testid="totp-qr">(<svg.*?</svg>)</div>', html, re.S)
    assert block, "no inline <svg> in the QR block"
    return ET.fromstring(block.group(1))


def modules(svg):
    """The dark modules the SVG draws, as a set of (row, column), read from its stroked path (a
    run of dark modules is a horizontal line through the middle of their row) under its scale."""
    scale = 1.0
    group = svg.find("g")
    if group is not None and group.get("transform"):
        scale = float(re.fullmatch(r"scale\(([\d.]+)\)", group.get("transform")).group(1))
    dark = set()
    for path in svg.iter("path"):
        if path.get("stroke") is None:
            continue  # the light background
        tokens = PATH_TOKENS.findall(path.get("d"))
        x = y = 0.0
        i = 0
        while i < len(tokens):
            command = tokens[i]
            if command in "Mm":
                dx, dy = float(tokens[i + 1]), float(tokens[i + 2])
                x, y = (dx, dy) if command == "M" else (x + dx, y + dy)
                i += 3
            elif command in "Hh":
                end = float(tokens[i + 1]) if command == "H" else x + float(tokens[i + 1])
                row = int(y)  # the line runs through the row's middle (y + .5)
                for column in range(int(min(x, end)), int(max(x, end))):
                    dark.add((row, column))
                x = end
                i += 2
            else:
                raise AssertionError(f"unexpected path command {command!r}")
    return dark, scale


def qr_of(uri):
    return segno.make(uri, error="m", micro=False, boost_error=False)


def matrix_modules(qr, border=4):
    return {(r + border, c + border) for r, row in enumerate(qr.matrix) for c, value in enumerate(row) if value}


def decode(dark, size, px=6):
    """Draws the modules as a black-on-white image and reads it with zxing-cpp."""
    image = Image.new("L", (size * px, size * px), 255)
    pixels = image.load()
    for row, column in dark:
        for y in range(row * px, (row + 1) * px):
            for x in range(column * px, (column + 1) * px):
                pixels[x, y] = 0
    found = zxingcpp.read_barcode(image, formats=zxingcpp.BarcodeFormat.QRCode)
    assert found is not None, "no QR code found in the drawn modules"
    return found.text


def test_the_enrolment_page_holds_a_qr_code_of_the_otpauth_uri_and_the_secret_as_text(demo, client):
    client.force_login(user("supa.rep"))
    response = client.get("/accounts/totp/")
    assert response.status_code == 200
    html = response.content.decode()
    secret = re.search(r'data-testid="totp-secret">([A-Z2-7]+)<', html).group(1)
    uri = pyotp.TOTP(secret).provisioning_uri(name="supa.rep", issuer_name="SCM Portal")
    svg = svg_of(html)
    # Drawn here: no image, no link, nothing to fetch.
    assert not any(element.tag in ("image", "use", "a", "script") for element in svg.iter())
    assert not any("href" in key for element in svg.iter() for key in element.attrib)
    assert "<img" not in html.split('data-testid="totp-qr"')[1].split("</div>")[0]
    dark, scale = modules(svg)
    # The same modules segno draws for this URI (with its four-module quiet zone) ...
    expected = qr_of(uri)
    assert dark == matrix_modules(expected)
    size = len(expected.matrix) + 8
    assert float(svg.get("width")) == size * scale
    # ... and a QR decoder reads the URI back out of them.
    assert decode(dark, size) == uri
    # The secret stays on the page as text, and the link beside it.
    assert f'data-testid="totp-secret">{secret}<' in html
    assert uri.replace("&", "&amp;") in html
    # The same secret (and so the same code) until confirmed; a first code enrols it.
    assert svg_of(client.get("/accounts/totp/").content.decode()).get("width") == svg.get("width")
    assert modules(svg_of(client.get("/accounts/totp/").content.decode()))[0] == dark
    assert client.post("/accounts/totp/", {"code": pyotp.TOTP(secret).now()}).status_code == 302
    assert TotpDevice.objects.get(user__username="supa.rep").secret == secret
    html = client.get("/accounts/totp/").content.decode()
    assert 'data-testid="totp-qr"' not in html and secret not in html  # enrolled: no QR code, no secret


def test_the_decoder_tells_another_uri_apart(demo):
    """The check above can fail: the modules of one URI do not read as another."""
    uri = pyotp.TOTP(pyotp.random_base32()).provisioning_uri(name="acme.finance", issuer_name="SCM Portal")
    other = pyotp.TOTP(pyotp.random_base32()).provisioning_uri(name="acme.finance", issuer_name="SCM Portal")
    dark, _scale = modules(ET.fromstring(str(totp_qr_svg(uri))))
    assert dark != matrix_modules(qr_of(other))
    size = len(qr_of(uri).matrix) + 8
    assert decode(dark, size) == uri != other


def test_a_username_with_markup_only_changes_modules(demo):
    """The user's name is in the URI, never in the SVG's markup."""
    uri = pyotp.TOTP(pyotp.random_base32()).provisioning_uri(name='<script>"x"</script>', issuer_name="SCM Portal")
    svg = str(totp_qr_svg(uri))
    assert "script" not in svg and "&lt;" not in svg and '"x"' not in svg
    assert decode(modules(ET.fromstring(svg))[0], len(qr_of(uri).matrix) + 8) == uri
