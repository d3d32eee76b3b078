"""The reference payment service: a careful money path, instrumented with moneypath.instrument
exactly as a user's service would be. Drills and load tests judge the observability by
what happens to real money movements in it."""
