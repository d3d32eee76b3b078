"""The reference payment system moneypath is shown and tested on: a payment service (refservice) and a provider
simulator (providersim), each run as its own process; no other room imports them."""
