"""The tenant navigation: one registry, read for every /t/<tenant>/ page.

Each app registers its sections from its `AppConfig.ready()` (`register_nav_item`), naming the
roles that may open the page; the header shows a reader only the sections one of their roles
may open, so a funder is never linked to the stock pages and an orders app adds "Purchase
orders" without editing the base template. The roles given here are the page's own rule (the
page answers 403 to everyone else), so a link and its page cannot disagree:
tests/test_navigation.py opens every link as every demo role.
"""

from dataclasses import dataclass

from django.urls import reverse


@dataclass(frozen=True)
class NavItem:
    name: str  # a CSS and test hook: data-testid="nav-<name>"
    label: object  # a lazy translation
    url_name: str  # reversed with the tenant slug as its only argument
    roles: frozenset
    order: int


_ITEMS = {}


def register_nav_item(name, *, label, url_name, roles, order=100):
    """Adds a section to the tenant navigation, shown to members holding one of `roles`."""
    if name in _ITEMS:
        raise ValueError(f"navigation item {name!r} is registered twice")
    _ITEMS[name] = NavItem(name=name, label=label, url_name=url_name, roles=frozenset(roles), order=order)


def nav_items_for(context):
    """The sections a TenantContext's roles may open, in order: [{name, label, url}]."""
    roles = context.roles
    items = sorted((item for item in _ITEMS.values() if item.roles & roles), key=lambda item: (item.order, item.name))
    return [
        {"name": item.name, "label": item.label, "url": reverse(item.url_name, kwargs={"tenant": context.tenant.slug})}
        for item in items
    ]


def nav_roles(name):
    """The roles a registered section is for (a page checks its reader against the same set)."""
    return _ITEMS[name].roles
