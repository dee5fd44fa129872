"""Orders: carts, quotes, checkout, delivery / takeout / click-and-collect orders and counter sales."""
