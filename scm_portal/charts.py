"""Small helpers for the inline SVG charts the pages draw (alerts' KPIs, stock history, supplier
scorecards): no chart library, no script, coordinates the server computes."""

import math

ROUND_STEPS = (1, 2, 5, 10)
FINE_STEPS = (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10)


def svg_number(number):
    """A coordinate as a plain string: never localised (a decimal comma would break the SVG)."""
    return f"{number:.1f}".rstrip("0").rstrip(".")


def nice_ceiling(value, steps=ROUND_STEPS, whole=True):
    """The smallest step × 10^n at or above `value`: an axis top that reads well. `whole`: rounded
    up to a whole number (counts); else as is (rates between 0 and 1)."""
    if value <= 0:
        return 1
    magnitude = 10 ** math.floor(math.log10(value))
    top = next((step * magnitude for step in steps if value <= step * magnitude), 10 * magnitude)
    return int(math.ceil(top)) if whole else top
