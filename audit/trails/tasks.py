from celery import shared_task


@shared_task(name="audit.trail_export_render", acks_late=True)
def trail_export_render(export_id):
    """Renders a large trail's PDF in chunks (audit.trails.services.trail_export_run)."""
    from audit.trails.services import trail_export_run

    trail_export_run(export_id)
