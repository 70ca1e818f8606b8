"""The CJK font PDFs are set in, found without apt: WenQuanYi Micro Hei when the system has it
(Debian's fonts-wqy-microhei, which .ci/run installs), else Noto Sans CJK from the pinned pip
package cvttf-notosanscjk-regular (requirements.txt), so `make run` on a fresh machine always has
one. docs/AUDIT_TRAILS.md "Font" has the measurements behind the order.

Django-free: the render sandbox imports it."""

import functools
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

# Where Debian (and most distributions) put WenQuanYi Micro Hei.
WQY_PATHS = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/wqy-microhei/wqy-microhei.ttc",
)
NOTO_PACKAGE = "cvttf_NotoSansCJK_Regular"
FAMILY = "Trail CJK"  # the name the PDFs' CSS uses, whichever file it is


class FontMissing(RuntimeError):
    pass


@dataclass(frozen=True)
class TrailFont:
    name: str  # "WenQuanYi Micro Hei" | "Noto Sans CJK"
    path: Path

    def css(self):
        """An @font-face naming the file (the render's url_fetcher serves exactly this file)."""
        return f'@font-face {{ font-family: "{FAMILY}"; src: url("{self.path.as_uri()}"); }}'


def _noto_path():
    spec = importlib.util.find_spec(NOTO_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        for candidate in sorted(Path(folder).glob("*.otf")):
            return candidate
    return None


@functools.cache
def trail_font(preferred=None):
    """The font to use. `preferred` ("wqy" | "noto", or TRAIL_FONT in the environment) forces one
    (the benchmark measures both); otherwise WenQuanYi when installed, else Noto."""
    preferred = preferred or os.environ.get("TRAIL_FONT", "")
    wqy = next((Path(p) for p in WQY_PATHS if Path(p).is_file()), None)
    noto = _noto_path()
    if preferred == "noto" and noto:
        return TrailFont("Noto Sans CJK", noto.resolve())
    if wqy and preferred in ("", "wqy"):
        return TrailFont("WenQuanYi Micro Hei", wqy.resolve())
    if noto:
        return TrailFont("Noto Sans CJK", noto.resolve())
    raise FontMissing(
        "No CJK font for PDFs: install the requirements (pip install -r requirements.txt brings "
        "cvttf-notosanscjk-regular) or the fonts-wqy-microhei package."
    )
