"""The payout account page (/t/<tenant>/financing/bank-account/): a supplier's reps see and change
their organisation's account, the change needing the session verified with TOTP within
settings.MONEY_OTP_MAX_AGE (the same service as PUT bank-account/)."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from finance import services
from finance.actions import second_factor_fresh
from finance.models import BankAccount, OtpRequired
from scm_portal.tenancy.views import tenant_page


def _verify_url(request):
    """The TOTP verification page, coming back here once verified (None where it is not installed)."""
    try:
        return reverse("totp-verify") + "?next=" + request.path
    except NoReverseMatch:
        return None


@tenant_page
@require_http_methods(["GET", "POST"])
def bank_account(request):
    context = request.tenant_context
    try:
        organization_id = services.bank_account_organization(context, _chosen(request, context))
    except (PermissionDenied, ValidationError):
        return render(request, "403.html", status=403)
    account = (BankAccount.objects.for_tenant(request.tenant).visible_to(request.user, context=context)
               .select_related("organization", "updated_by").filter(organization_id=organization_id).first())
    form, errors, status = {}, {}, 200
    if request.method == "POST":
        form = {name: request.POST.get(name, "") for name in services.BANK_ACCOUNT_FIELDS}
        try:
            services.bank_account_save(tenant=request.tenant, actor=request.user, context=context,
                                       organization=organization_id, verified_at=context.second_factor_at, **form)
        except OtpRequired as refused:
            errors, status = {"form": [str(refused)]}, 403
        except ValidationError as invalid:
            errors, status = invalid.message_dict, 400
        else:
            messages.success(request, _("The payout account is saved."))
            return redirect(request.get_full_path())
    elif account is not None:
        form = {name: getattr(account, name) for name in services.BANK_ACCOUNT_FIELDS}
    return render(request, "finance/bank_account.html", {
        "account": account, "form": form, "errors": errors, "verified": second_factor_fresh(context),
        "verify_url": _verify_url(request),
    }, status=status)


def _chosen(request, context):
    """The organisation named by `?organization=<id>` (a rep of several suppliers), else None."""
    value = request.GET.get("organization", "")
    return int(value) if value.isascii() and value.isdigit() and int(value) < 2**63 else None
