"""The portal's one date and time format per language (settings.FORMAT_MODULE_PATH).

Pages render every date and time with these (`templates/_datetime.html`, `|date:"DATETIME_FORMAT"`),
in the tenant's time zone; base.html hands the same patterns, the zone and the month names to
the page scripts (`Portal.formatTime` in static/portal/portal.js), so a time drawn from a live
socket frame reads exactly as the server would have printed it. Only the tokens that script
knows are used: Y y m n d j H G i s M and backslash escapes.
"""

import datetime

from django.utils import formats


def time_formats(request):
    """A context processor: the patterns and month names base.html hands to the page scripts."""
    return {
        "time_formats": {
            "datetime": formats.get_format("DATETIME_FORMAT"),
            "date": formats.get_format("DATE_FORMAT"),
            "time": formats.get_format("TIME_FORMAT"),
            "month_names": ",".join(formats.date_format(datetime.date(2000, m, 1), "M") for m in range(1, 13)),
        }
    }
