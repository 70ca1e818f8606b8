"""Translation catalogues: complete, compiled, and actually used.

The Simplified Chinese catalogue must translate every string that `make messages` extracts from the code and
templates, the committed `.mo` files (the portal runs without gettext installed) must match their `.po`, and
no catalogue keeps an entry that no source asks for any more. Regenerate with `make messages`; these tests
need GNU gettext (`apt-get install gettext`).
"""

import gettext as gnu_gettext
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.template import Context, Template
from django.utils import translation

REPO = Path(__file__).resolve().parent.parent
LOCALE = REPO / "locale"
ZH_PO = LOCALE / "zh_Hans" / "LC_MESSAGES" / "django.po"
CATALOGUES = ["zh_Hans", "en"]
GETTEXT_TOOLS = ["xgettext", "msguniq", "msgmerge", "msgattrib", "msgfmt"]
# What is left out of the scratch copy of the source tree that makemessages scans.
COPY_IGNORE = shutil.ignore_patterns(
    ".*", "__pycache__", "*.pyc", "staticfiles", "node_modules", "tests"
)
# Placeholders that a translation must keep, by the format flag xgettext gives the entry.
PLACEHOLDERS = {
    "python-format": re.compile(r"%(?:\(\w+\))?[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa%]"),
    "python-brace-format": re.compile(r"\{[^{}]*\}"),
}


def require_gettext():
    missing = [tool for tool in GETTEXT_TOOLS if shutil.which(tool) is None]
    if missing:
        pytest.fail(
            f"GNU gettext is required for the translation checks ({', '.join(missing)} not found on PATH): "
            "apt-get install gettext",
            pytrace=False,
        )


def _unquote(token):
    token = token.strip()
    assert token.startswith('"') and token.endswith('"'), f"malformed PO string: {token!r}"
    escapes = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}
    return re.sub(r"\\(.)", lambda m: escapes.get(m.group(1), m.group(1)), token[1:-1])


def parse_po(path):
    """The live entries of a PO file: dicts with msgid, msgid_plural, msgstr {index: text}, flags, line."""
    entries, entry, field = [], None, None

    def flush():
        if entry is not None and "msgid" in entry:
            entries.append(entry)

    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            flush()
            entry, field = None, None
            continue
        if line.startswith("#~"):  # obsolete entry, kept by msgmerge for reference only
            continue
        if entry is None:
            entry = {"flags": set(), "msgstr": {}, "line": number}
        if line.startswith("#,"):
            entry["flags"].update(flag.strip() for flag in line[2:].split(",") if flag.strip())
            continue
        if line.startswith("#"):
            continue
        match = re.match(r'^(msgctxt|msgid_plural|msgid|msgstr(?:\[(\d+)\])?)\s+(".*")\s*$', line)
        if match:
            keyword, index, text = match.groups()
            if keyword.startswith("msgstr"):
                field = ("msgstr", int(index or 0))
                entry["msgstr"][field[1]] = _unquote(text)
            else:
                field = keyword
                entry[keyword] = _unquote(text)
        elif line.lstrip().startswith('"') and field is not None:
            if isinstance(field, tuple):
                entry["msgstr"][field[1]] += _unquote(line)
            else:
                entry[field] += _unquote(line)
        else:
            raise AssertionError(f"{path}:{number}: cannot parse {line!r}")
    flush()
    return entries


def header_of(entries):
    header = next(e for e in entries if e["msgid"] == "" and "msgctxt" not in e)
    fields = dict(line.split(": ", 1) for line in header["msgstr"][0].splitlines() if ": " in line)
    return header, fields


def describe(entry, line=True):
    text = repr(entry["msgid"]) if "msgid_plural" not in entry else f"{entry['msgid']!r} / {entry['msgid_plural']!r}"
    if "msgctxt" in entry:
        text = f"{text} (context {entry['msgctxt']!r})"
    return f"line {entry['line']}: {text}" if line else text


def regenerate_catalogues(workdir):
    """{language: the catalogue as `makemessages` would leave it now}, built in a scratch copy of the source tree."""
    require_gettext()
    tree = workdir / "src"
    tree.mkdir()
    for item in REPO.iterdir():
        if item.name.startswith(".") or item.name in {"tests", "staticfiles", "node_modules"}:
            continue
        if item.is_dir():
            shutil.copytree(item, tree / item.name, ignore=COPY_IGNORE)
        else:
            shutil.copy2(item, tree / item.name)
    from django.conf import settings

    # This run's database server: without DATABASE_URL the copy would start an embedded one of its own.
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "scm_portal.settings.test", "PYTHONDONTWRITEBYTECODE": "1",
           "DATABASE_URL": settings.DATABASE_URL}
    env.pop("PYTHONPATH", None)
    languages = [arg for language in CATALOGUES for arg in ("-l", language)]
    result = subprocess.run(
        [sys.executable, "manage.py", "makemessages", *languages, "--ignore=.venv", "--ignore=staticfiles",
         "--ignore=tests", "--no-location"],
        cwd=tree, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, f"makemessages failed:\n{result.stdout}\n{result.stderr}"
    catalogues = {language: tree / "locale" / language / "LC_MESSAGES" / "django.po" for language in CATALOGUES}
    for po in catalogues.values():
        assert po.is_file(), f"makemessages wrote no catalogue at {po}:\n{result.stdout}\n{result.stderr}"
    return catalogues


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    """The catalogues regenerated once for this module's tests (makemessages takes a while)."""
    return regenerate_catalogues(tmp_path_factory.mktemp("messages"))


def test_every_extractable_string_has_a_chinese_translation(regenerated):
    entries = [e for e in parse_po(regenerated["zh_Hans"]) if e["msgid"] != ""]
    assert len(entries) > 50, "makemessages found suspiciously few strings; is the source tree copied correctly?"
    untranslated = [
        describe(e, line=False) for e in entries if not e["msgstr"] or not all(s.strip() for s in e["msgstr"].values())
    ]
    fuzzy = [describe(e, line=False) for e in entries if "fuzzy" in e["flags"]]
    hint = "; run `make messages` and translate locale/zh_Hans/LC_MESSAGES/django.po"
    assert not untranslated, f"{len(untranslated)} string(s) without a zh_Hans translation{hint}:\n" + "\n".join(
        untranslated
    )
    assert not fuzzy, f"{len(fuzzy)} fuzzy zh_Hans translation(s) to review{hint}:\n" + "\n".join(fuzzy)


def _entry_key(entry):
    return entry.get("msgctxt"), entry["msgid"], entry.get("msgid_plural")


@pytest.mark.parametrize("language", CATALOGUES)
def test_no_catalogue_keeps_dead_entries(language, regenerated):
    """Every entry of a committed catalogue is a string the code or a template still asks for: a
    text that became keyed (messaging.texts) leaves its old `%(name)s` entry behind otherwise,
    translated, compiled and never read. Obsolete (`#~`) entries are dead too."""
    po = LOCALE / language / "LC_MESSAGES" / "django.po"
    extracted = {_entry_key(e) for e in parse_po(regenerated[language])}
    dead = [describe(e) for e in parse_po(po) if e["msgid"] != "" and _entry_key(e) not in extracted]
    obsolete = [f"line {number}" for number, line in enumerate(po.read_text(encoding="utf-8").splitlines(), 1)
                if line.startswith("#~")]
    hint = f"; delete them from {po.relative_to(REPO)} (keep the order of the rest) and recompile the .mo"
    assert not dead, f"{len(dead)} entr(y/ies) no source asks for any more{hint}:\n" + "\n".join(dead)
    assert not obsolete, f"obsolete entries{hint}: " + ", ".join(obsolete)


def test_committed_chinese_catalogue_is_clean():
    entries = parse_po(ZH_PO)
    header, fields = header_of(entries)
    assert "fuzzy" not in header["flags"], "the zh_Hans header is marked fuzzy; msgfmt would drop it"
    assert fields.get("Plural-Forms", "").replace(" ", "") == "nplurals=1;plural=0;"
    assert "charset=UTF-8" in fields.get("Content-Type", "")
    problems = []
    for entry in entries:
        if entry["msgid"] == "":
            continue
        if "fuzzy" in entry["flags"]:
            problems.append(f"{describe(entry)} is fuzzy")
        if "msgid_plural" in entry and sorted(entry["msgstr"]) != [0]:
            forms = sorted(entry["msgstr"])
            problems.append(f"{describe(entry)} needs exactly one plural form (msgstr[0]), not {forms}")
        patterns = [pattern for flag, pattern in PLACEHOLDERS.items() if flag in entry["flags"]]
        expected = sorted(p for pattern in patterns for p in pattern.findall(entry["msgid"]))
        for index, text in entry["msgstr"].items():
            found = sorted(p for pattern in patterns for p in pattern.findall(text))
            if not text.strip():
                problems.append(f"{describe(entry)} has an empty msgstr[{index}]")
            elif found != expected and not ("msgid_plural" in entry and set(found) == set(expected)):
                problems.append(f"{describe(entry)}: placeholders {found} in the translation, {expected} in the source")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("language", CATALOGUES)
def test_committed_mo_matches_po(language, tmp_path):
    require_gettext()
    po = LOCALE / language / "LC_MESSAGES" / "django.po"
    mo = po.with_suffix(".mo")
    assert po.is_file(), f"missing {po}; run `make messages`"
    assert mo.is_file(), f"missing {mo}; run `make messages` (the .mo files are committed)"
    fresh = tmp_path / "django.mo"
    result = subprocess.run(
        ["msgfmt", "--check-format", "--check-header", "-o", str(fresh), str(po)], capture_output=True, text=True
    )
    assert result.returncode == 0, f"msgfmt rejects {po}:\n{result.stderr}"
    with mo.open("rb") as committed_file, fresh.open("rb") as fresh_file:
        committed = gnu_gettext.GNUTranslations(committed_file)
        expected = gnu_gettext.GNUTranslations(fresh_file)
    # _catalog holds every message (and the header under ""), plural forms keyed by (msgid, index).
    assert committed._catalog == expected._catalog, f"{mo} is out of date with {po}; run `make messages`"
    assert committed.plural(1) == expected.plural(1) and committed.plural(5) == expected.plural(5)


def test_pages_render_in_chinese_and_english():
    template = Template(
        "{% load i18n %}{% translate 'Dashboard' %}|"
        "{% blocktranslate count counter=n %}{{ counter }} active member{% plural %}{{ counter }} active members"
        "{% endblocktranslate %}"
    )
    with translation.override("zh-hans"):
        assert translation.gettext("Dashboard") == "工作台"
        assert translation.gettext("Purchase orders") == "采购订单"
        singular, plural = "%(counter)s active partner", "%(counter)s active partners"
        partners = [translation.ngettext(singular, plural, n) for n in (1, 3)]
        assert partners == ["已启用合作伙伴 %(counter)s 家"] * 2  # Chinese has a single plural form
        assert template.render(Context({"n": 3})) == "工作台|已启用成员 3 名"
    with translation.override("en"):
        assert translation.gettext("Dashboard") == "Dashboard"
        assert template.render(Context({"n": 1})) == "Dashboard|1 active member"
        assert template.render(Context({"n": 2})) == "Dashboard|2 active members"
