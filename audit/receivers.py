"""What the audit log hears from the apps below it, which may not import it: logins and logouts
(django.contrib.auth's signals) and permission or membership changes (tenancy's `audited`).
Connected in AuditConfig.ready()."""

import ipaddress

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed

from audit.services import audit_record
from scm_portal.tenancy.selectors import tenant_list_for_user
from scm_portal.tenancy.security import client_ip
from scm_portal.tenancy.signals import audited, user_security_event


def _ip(request):
    if request is None:
        return None
    try:
        return str(ipaddress.ip_address(client_ip(request)))
    except ValueError:
        return None


def _tenant_ids(user):
    """The tenants where `user` is an active member: where their logins are audited."""
    return sorted(tenant_list_for_user(user).values_list("pk", flat=True))


def _record_in_tenants(user, action, request, after=None):
    # A login is no tenant's act: each tenant the user works in sees it in its own log. In tenant
    # id order, one chain head at a time, so two logins never wait for each other in a cycle.
    for tenant_id in _tenant_ids(user):
        audit_record(tenant=tenant_id, actor=user, action=action, object_kind="user", object_ref=user.get_username(),
                     after=after, ip=_ip(request))


def on_logged_in(sender, request, user, **kwargs):
    _record_in_tenants(user, "auth.login", request)


def on_logged_out(sender, request, user, **kwargs):
    if user is not None and user.is_authenticated:
        _record_in_tenants(user, "auth.logout", request)


def on_login_failed(sender, credentials, request=None, **kwargs):
    """A failed login of a known user goes to the log of each tenant they work in (its auditor
    sees someone trying their account). One for an unknown name goes nowhere: it belongs to no
    tenant, writing it into every tenant's chain would let anyone flood them, and the names typed
    are often passwords typed in the wrong box. django-axes counts every failure for the lockout."""
    username = credentials.get(get_user_model().USERNAME_FIELD) or credentials.get("username")
    if not isinstance(username, str) or not username:
        return
    user = get_user_model().objects.filter(**{get_user_model().USERNAME_FIELD: username}).first()
    if user is None:
        return
    for tenant_id in _tenant_ids(user):
        # The actor is the account tried, not a person proven to be its owner: kept as its name only.
        audit_record(tenant=tenant_id, actor=None, action="auth.login_failed", object_kind="user",
                     object_ref=user.get_username(), ip=_ip(request))


def on_user_security_event(sender, user, action, request=None, **kwargs):
    """TOTP enrolment and failed codes: the user's own, recorded in each tenant they work in."""
    if user is not None and user.is_authenticated:
        _record_in_tenants(user, action, request)


def on_audited(sender, tenant, actor, action, object_kind, object_ref, before=None, after=None, **kwargs):
    audit_record(tenant=tenant, actor=actor, action=action, object_kind=object_kind, object_ref=object_ref,
                 before=before, after=after)


def connect():
    user_logged_in.connect(on_logged_in, dispatch_uid="audit.on_logged_in")
    user_logged_out.connect(on_logged_out, dispatch_uid="audit.on_logged_out")
    user_login_failed.connect(on_login_failed, dispatch_uid="audit.on_login_failed")
    audited.connect(on_audited, dispatch_uid="audit.on_audited")
    user_security_event.connect(on_user_security_event, dispatch_uid="audit.on_user_security_event")
