"""The buttons of financing cards: "Approve financing", "Reject financing" and "Disburse".

Which card carries them: the card of the application's current moment (finance.cards.CARD_ACTIONS
and financing_card_step): approve and reject on the card of a request and of each core approval,
disburse on the card of the funder's approval. An older card's buttons are gone: the next approver
presses the newer card, and no card offers a button twice.

"Appear only for approvers who may press them now" means, for each reader of such a card:

- **enabled**: the press would go through as far as can be known when the card is shown: the
  application awaits the reader's stage (core review for the tenant's finance approvers; funder
  review for the officers of *its* funder, and disburse once their approval is in), the reader is
  not its maker and has not decided on it yet, and the credential they read it with passed TOTP
  within settings.MONEY_OTP_MAX_AGE;
- **disabled**, with a hint to verify: all of the above but the second factor. They are an
  approver whose turn it is; hiding the button would hide that there is something to decide, and
  one TOTP code makes it pressable (the page or socket shows it enabled after that);
- **not shown**: everyone else: the maker (even one who also holds the approver role), someone who
  has decided already, another stage's people, another funder's officers, suppliers, auditors,
  readers of another tenant, and every reader of a card whose moment has passed.

A card is shown at one moment and pressed at another: the press re-checks everything through the
same services as the API (role, organisation, maker, an earlier decision, the application's state
under its row lock, and the second factor of the credential pressing *now*, read fresh by the
press endpoint and the socket: TenantContext.second_factor_at). A refused press changes nothing:
403 `permission_denied` for someone not offered the button, 403 `otp_required` without a fresh
second factor, 409 (`already_decided`, `illegal_transition`, `already_disbursed`) when the
application has moved on. Pressing the same button of the same card again is answered with the
first press (messaging's action_press), never run twice; a disburse press carries the card as its
Idempotency-Key, so even a retried one pays out once.

Reject needs a reason: the button takes it as its input (`{"reason": "..."}` in the press body or
the socket frame; messaging.registry.Action.inputs), and a press without one is a 400.
"""

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.contrib.postgres.aggregates import ArrayAgg
from django.utils import timezone
from django.utils.translation import gettext as _

from finance import cards, services
from finance.models import FINANCE_APPROVERS, FUNDER_ROLES, ApplicationState, FinanceConflict, FinancingApplication
from messaging import registry
from scm_portal.errors import StateConflict

S = ApplicationState
CORE, FUNDER = "core", "funder"


def _application_of(tenant, message):
    application = None
    if message.subject_kind == "financing_application" and str(message.subject_ref).isdigit():
        application = (FinancingApplication.objects.for_tenant(tenant).select_related("supplier", "funder")
                       .filter(pk=int(message.subject_ref)).first())
    if application is None:
        raise ValidationError({"action": _("This financing application no longer exists.")})
    return application


def _card_rooms(*, tenant, message):
    """The rooms a financing write posts to (the supplier's and the funder's): action_press locks
    them with the pressed room, in id order, before the service locks the application."""
    from messaging.models import Room

    if message.subject_kind != "financing_application" or not str(message.subject_ref).isdigit():
        return []
    parties = (FinancingApplication.objects.for_tenant(tenant).filter(pk=int(message.subject_ref))
               .values_list("supplier_id", "funder_id").first())
    if parties is None:
        return []
    return list(Room.objects.filter(tenant=tenant, partnership__active=True, partnership__organization_id__in=parties)
                .values_list("pk", flat=True))


def financing_application_states(*, tenant_id, refs):
    """The `financing_application` subject's state loader, one query for all:
    {id: {"state", "supplier", "funder", "maker", "decided": [user ids], "funder_approved", "step"}}."""
    ids = [int(ref) for ref in refs if str(ref).isdigit() and 0 < int(ref) < 2**63]
    rows = (
        FinancingApplication.objects.for_tenant(tenant_id).filter(pk__in=ids)
        .annotate(decided=ArrayAgg("approvals__approver_id", filter=Q(approvals__isnull=False), default=[]),
                  decisions=Count("approvals"))
        .values_list("pk", "state", "supplier_id", "funder_id", "created_by_id", "funder_approved_at", "decided", "decisions")
    )
    return {
        str(pk): {"state": state, "supplier": supplier, "funder": funder, "maker": maker, "decided": sorted(decided),
                  "funder_approved": funder_approved_at is not None, "step": cards.financing_card_step(state, decisions)}
        for pk, state, supplier, funder, maker, funder_approved_at, decided, decisions in rows
    }


def second_factor_fresh(context, *, now=None):
    """Whether the reader's credential passed TOTP within settings.MONEY_OTP_MAX_AGE."""
    verified_at = context.second_factor_at
    now = now or timezone.now()
    return verified_at is not None and verified_at >= now - timedelta(seconds=settings.MONEY_OTP_MAX_AGE)


def _stage(context, record):
    """The stage this reader decides at on this application, or None: the officers of its funder
    at the funder's, the tenant's finance approvers at the core's."""
    if record["funder"] in context.organizations(FUNDER_ROLES):
        return FUNDER
    if context.roles & FINANCE_APPROVERS:
        return CORE
    return None


def _offered(message, context, record, *, ready, decision=True):
    """The rule of the module docstring; `ready(stage, record)`: whether the application awaits
    this button at that stage; `decision`: a button that records the reader's decision (not
    disburse, which the officer presses after deciding)."""
    if record is None or context.tenant_id != message.tenant_id:
        return None
    stage = _stage(context, record)
    if stage is None or (stage == CORE and context.user_id == record["maker"]):
        return None
    if (message.payload or {}).get("step") != record["step"] or not ready(stage, record):
        return "gone"  # an older card, or not this stage's turn
    if decision and context.user_id in record["decided"]:
        return "gone"
    return "enabled" if second_factor_fresh(context) else "disabled"


def _decision_ready(stage, record):
    if stage == CORE:
        return record["state"] in (S.REQUESTED, S.CORE_REVIEW)
    return record["state"] == S.FUNDER_REVIEW and not record["funder_approved"]


def _disburse_ready(stage, record):
    return stage == FUNDER and record["state"] == S.FUNDER_REVIEW and record["funder_approved"]


def approve_available(*, message, context, record):
    return _offered(message, context, record, ready=_decision_ready)


def reject_available(*, message, context, record):
    return _offered(message, context, record, ready=_decision_ready)


def disburse_available(*, message, context, record):
    if record is not None and _stage(context, record) == CORE:
        return None  # the core side never disburses
    return _offered(message, context, record, ready=_disburse_ready, decision=False)


def _run(action, *, tenant, actor, message, context, data):
    application = _application_of(tenant, message)
    common = {"tenant": tenant, "actor": actor, "context": context, "application": application,
              "verified_at": context.second_factor_at}  # the pressing credential's, read now
    if action == cards.ACTION_APPROVE:
        return services.financing_approve(**common)
    if action == cards.ACTION_REJECT:
        return services.financing_reject(**common, reason=data.get("reason", ""))
    # The card is the Idempotency-Key: a retried press of it pays out once, like a retried request.
    disbursement, _replayed = services.financing_disburse(
        **common, idempotency_key=f"card:{message.room_id}:{message.seq}", body={"card": [message.room_id, message.seq]})
    return disbursement.application


def _pressed(action):
    def handler(*, tenant, actor, message, room, context, data=None):
        try:
            application = _run(action, tenant=tenant, actor=actor, message=message, context=context, data=data or {})
        except FinanceConflict as refused:
            # A late press: the application moved on since the card was shown.
            raise StateConflict(refused, code=refused.code) from None
        # The service posted its cards in the pressed room, which action_press holds locked and
        # appends the outcome to next: read its head as it now is.
        room.refresh_from_db(fields=["last_seq", "last_hash", "last_message_at"])
        return {"message": cards.financing_press_text(action, actor=actor, application=application),
                "data": {"financing_application": application.pk, "state": application.state}}

    return handler


def register_actions():
    """The financing cards' buttons; called from FinanceConfig.ready()."""
    available = {cards.ACTION_APPROVE: approve_available, cards.ACTION_REJECT: reject_available,
                 cards.ACTION_DISBURSE: disburse_available}
    for action, offered in available.items():
        registry.register_action(
            action, label=cards.ACTION_LABELS[action], handler=_pressed(action), rooms=_card_rooms, available=offered,
            personal=True, hint=cards.SECOND_FACTOR_HINT,
            inputs=("reason",) if action == cards.ACTION_REJECT else (),
        )
