"""Findable by name (docs/ARCHITECTURE.md): every public function of an app's selectors and
services is named `<entity>_<verb>` after one of the app's entities, so `grep room_` finds
everything that reads or writes rooms. Validators are `check_*`; the functions an app's
`AppConfig.ready()` calls to register what it contributes are `register_*`.

And registrations are explicit: no module of an app registers anything (a bot intent, an action,
an alert kind, a lookup, a signal receiver) as a side effect of being imported.

Checked statically with `ast`, over the apps installed from this repository.
"""

import ast
from pathlib import Path

import pytest
from django.apps import apps

REPO = Path(__file__).resolve().parent.parent

# The entities of each app: a public selector or service starts with one of these and "_".
# A new app, or a new kind of record, adds its names here.
ENTITIES = {
    "tenancy": {"tenant", "organization", "partnership", "membership", "invitation", "role", "user"},
    "api": set(),
    "messaging": {"room", "message", "event", "action", "attachment"},
    "alerts": {"alert", "audience", "escalation", "escalation_policy", "notification"},
    "inventory": {"warehouse", "sku", "stock_level", "stock_movement", "rule", "rule_crossing", "replenishment_request"},
    "orders": {"purchase_order", "order_settings", "shipment", "position", "receipt", "quality_hold", "route"},
    "finance": {"invoice", "receivable", "financing", "bank_account"},
    "audit": {"audit", "trail", "retention", "legal_hold"},
    "audit_trails": {"trail"},
}
PREFIXES = ("check_", "register_")  # validators; registrations called from ready()

# Names that break the rule for now, each with where it is going. An entry that no longer
# matches a function fails too, so the list only shrinks.
PENDING = {}

# Module-level calls and decorators that register something on import.
REGISTERING_CALLS = ("register_intent", "register_action", "register_subject", "register_alert_kind",
                     "register_lookup", "register_nav_item", "register_dashboard_panel", "connect", "receiver")


def _project_apps():
    """The apps whose code lives in the repository (not installed packages, even when the
    virtualenv sits inside the checkout, as `make` puts it)."""
    return [
        config for config in apps.get_app_configs()
        if Path(config.path).resolve().is_relative_to(REPO) and "site-packages" not in Path(config.path).parts
    ]


def _naming_modules(app_path):
    """selectors.py, services.py and the modules of a services/ package."""
    paths = [app_path / "selectors.py", app_path / "services.py"]
    paths += sorted((app_path / "services").glob("*.py")) if (app_path / "services").is_dir() else []
    return [path for path in paths if path.is_file()]


def _public_functions(path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [
        node for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith("_")
    ]


def naming_problems(label, app_path, entities, pending=(), root=REPO):
    """(problems, the pending names met) for one app."""
    problems, met = [], set()
    for path in _naming_modules(app_path):
        for node in _public_functions(path):
            name = node.name
            if name.startswith(PREFIXES) or any(name.startswith(entity + "_") for entity in entities):
                continue
            if name in pending:
                met.add(name)
                continue
            problems.append(f"{path.relative_to(root)}:{node.lineno}: {name} is not <entity>_<verb> "
                            f"for an entity of {label} ({', '.join(sorted(entities)) or 'none listed'})")
    return problems, met


def _called_name(node):
    """`register_intent` of `registry.register_intent(...)` or of `@receiver(...)`; None otherwise."""
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return None


def registration_problems(path, root=REPO):
    """Module-level statements of `path` that register something when it is imported."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    problems = []
    for node in tree.body:
        if isinstance(node, ast.Expr) and _called_name(node.value) in REGISTERING_CALLS:
            problems.append(f"{path.relative_to(root)}:{node.lineno}: {_called_name(node.value)}() on import")
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            for decorator in node.decorator_list:
                if _called_name(decorator) in REGISTERING_CALLS:
                    problems.append(f"{path.relative_to(root)}:{node.lineno}: @{_called_name(decorator)} on import")
    return problems


@pytest.mark.parametrize("config", _project_apps(), ids=lambda config: config.label)
def test_selectors_and_services_are_named_after_the_apps_entities(config):
    assert config.label in ENTITIES, f"list the entities of the app {config.label} in ENTITIES"
    pending = {name for (label, name) in PENDING if label == config.label}
    problems, met = naming_problems(config.label, Path(config.path), ENTITIES[config.label], pending)
    assert not problems, "\n".join(problems)
    assert met == pending, f"no longer there, remove from PENDING: {sorted(pending - met)}"


@pytest.mark.parametrize("config", _project_apps(), ids=lambda config: config.label)
def test_nothing_registers_on_import(config):
    problems = []
    for path in sorted(Path(config.path).rglob("*.py")):
        if "migrations" in path.parts or path.name == "urls.py":  # URL routers register routes, by design
            continue
        problems += registration_problems(path)
    assert not problems, "register from AppConfig.ready() instead:\n" + "\n".join(problems)


def test_the_checks_catch_what_they_should(tmp_path):
    """The checks themselves: a misnamed function and an import-time registration are found."""
    app = tmp_path / "shop"
    (app / "services").mkdir(parents=True)
    (app / "selectors.py").write_text(
        "def basket_list(user): ...\ndef items_for_user(user): ...\ndef _helper(): ...\n"
    )
    (app / "services" / "baskets.py").write_text(
        "def basket_create(*, tenant): ...\ndef check_basket(basket): ...\ndef register_actions(): ...\n"
        "def sweep_baskets(): ...\ndef rooms_lock(ids): ...\n"
    )
    (app / "apps.py").write_text(
        "from registry import register_intent\nregister_intent('x')\n\n"
        "@receiver(post_save)\ndef on_save(**kwargs): ...\n\n"
        "def ready():\n    register_intent('y')\n"
    )
    problems, met = naming_problems("shop", app, {"basket"}, pending={"rooms_lock"}, root=tmp_path)
    registrations = registration_problems(app / "apps.py", root=tmp_path)
    assert [p.split(": ")[1].split()[0] for p in problems] == ["items_for_user", "sweep_baskets"]
    assert met == {"rooms_lock"}
    assert [p.split(": ", 1)[1] for p in registrations] == ["register_intent() on import", "@receiver on import"]
