"""Group-buy deals (团购) and the vouchers customers buy with them and redeem once in the shop."""
