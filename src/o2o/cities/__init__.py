"""Cities: the unit of scale. A city has a centre, a time zone, a currency, a locale and districts."""
