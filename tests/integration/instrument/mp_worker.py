"""A worker process for the multi-process tests: records, then waits or exits."""

import sys

from moneypath.instrument import MoneyPath

if __name__ == "__main__":
    catalog, provider, count, circuit = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    mp = MoneyPath.from_catalog(catalog)
    for _ in range(count):
        mp.record_authorization(provider, "card", "approved", 0.05)
    mp.set_circuit_state(provider, circuit)
    mp.set_circuit_state("acme" if provider == "globex" else "globex", circuit)
    print("recorded", flush=True)
    if len(sys.argv) > 5:  # stay alive until told to stop
        sys.stdin.readline()
