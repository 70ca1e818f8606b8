"""Code 128 barcodes drawn as SVG, for the delivery note (送货单): no external service, no library.

Code set B only (printable ASCII, 32–126), which covers shipment numbers. A symbol is the start
code, one symbol per character, the check symbol (the start value plus each value times its
position, modulo 103) and the stop pattern; each symbol is six alternating bar and space widths
of 1–4 modules, eleven modules in all (the stop: seven widths, thirteen modules).
"""

from django.utils.html import escape

# The 107 patterns by value (bar, space, bar, space, bar, space widths); 106 is the stop.
PATTERNS = (
    "212222", "222122", "222221", "121223", "121322", "131222", "122213", "122312", "132212", "221213",
    "221312", "231212", "112232", "122132", "122231", "113222", "123122", "123221", "223211", "221132",
    "221231", "213212", "223112", "312131", "311222", "321122", "321221", "312212", "322112", "322211",
    "212123", "212321", "232121", "111323", "131123", "131321", "112313", "132113", "132311", "211313",
    "231113", "231311", "112133", "112331", "132131", "113123", "113321", "133121", "313121", "211331",
    "231131", "213113", "213311", "213131", "311123", "311321", "331121", "312113", "312311", "332111",
    "314111", "221411", "431111", "111224", "111422", "121124", "121421", "141122", "141221", "112214",
    "112412", "122114", "122411", "142112", "142211", "241211", "221114", "413111", "241112", "134111",
    "111242", "121142", "121241", "114212", "124112", "124211", "411212", "421112", "421211", "212141",
    "214121", "412121", "111143", "111341", "131141", "114113", "114311", "411113", "411311", "113141",
    "114131", "311141", "411131", "211412", "211214", "211232", "2331112",
)
START_A, START_B, START_C, STOP = 103, 104, 105, 106


class BarcodeError(ValueError):
    pass


def code128_values(text):
    """The symbol values of `text` in code set B, without start, check and stop."""
    values = []
    for char in text:
        code = ord(char)
        if not 32 <= code <= 126:
            raise BarcodeError(f"Code 128 B cannot encode {char!r}")
        values.append(code - 32)
    return values


def code128_checksum(start, values):
    return (start + sum(position * value for position, value in enumerate(values, start=1))) % 103


def code128_symbols(text):
    """Every symbol value of the barcode of `text`: start B, the data, the check symbol, stop."""
    values = code128_values(text)
    return [START_B, *values, code128_checksum(START_B, values), STOP]


def code128_modules(text):
    """The barcode as a string of modules, "1" for bar and "0" for space (no quiet zones)."""
    modules = []
    for value in code128_symbols(text):
        for index, width in enumerate(PATTERNS[value]):
            modules.append(("1" if index % 2 == 0 else "0") * int(width))
    return "".join(modules)


def code128_svg(text, *, module=2, height=60, quiet=10, caption=True):
    """An SVG document of the barcode: one rect per bar, `quiet` modules of margin each side,
    the text beneath it when `caption`."""
    modules = code128_modules(text)
    width = (len(modules) + 2 * quiet) * module
    text_height = 16 if caption else 0
    rects = []
    x = 0
    while x < len(modules):
        if modules[x] == "1":
            run = x
            while run < len(modules) and modules[run] == "1":
                run += 1
            rects.append(f'<rect x="{(quiet + x) * module}" y="0" width="{(run - x) * module}" height="{height}"/>')
            x = run
        else:
            x += 1
    label = (f'<text x="{width / 2}" y="{height + 13}" font-family="monospace" font-size="12" '
             f'text-anchor="middle">{escape(text)}</text>') if caption else ""
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + text_height}" '
            f'viewBox="0 0 {width} {height + text_height}" role="img" aria-label="{escape(text)}">'
            f'<rect width="100%" height="100%" fill="#fff"/><g fill="#000">{"".join(rects)}</g>{label}</svg>')
