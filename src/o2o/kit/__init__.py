"""Domain-free helpers: ids, money, time, pagination, geography."""
