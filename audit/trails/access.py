"""Reading a trail export outside the API's sealed views: its requester's only."""

from django.http import Http404

from audit.trails.models import TrailExport
from scm_portal.db.ids import row_id


def access_trail_export(user, tenant, export_id):
    """The export `export_id` of `tenant` if `user` requested it; 404 otherwise (anyone else's,
    another tenant's, or missing)."""
    pk = row_id(export_id)
    if pk is None or not user.is_authenticated:
        raise Http404
    job = TrailExport.objects.for_tenant(tenant).filter(pk=pk, requested_by=user).first()
    if job is None:
        raise Http404
    return job
