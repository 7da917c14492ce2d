"""Reference: the JSON stage with CPython's json (C accelerated), for scale next to the Swift parser."""
import json
import time

PAYLOAD = ('{"intent_name":"read_customer_record","agent_id":"bench_agent_000",'
           '"sequence_counter":1764180000000000001,"action_risk_score":10}')
ENVELOPE = json.dumps({"payload": PAYLOAD, "signature": "ab" * 32}, separators=(",", ":"))


def measure(name, fn, outer=2000, inner=10):
    for _ in range(outer // 10):
        fn()
    s = []
    for _ in range(outer):
        t0 = time.perf_counter_ns()
        for _ in range(inner):
            fn()
        s.append((time.perf_counter_ns() - t0) / inner)
    s.sort()
    print(json.dumps({"stage": name, "n": outer * inner, "p50_ns": round(s[len(s) // 2]),
                      "p99_ns": round(s[int(len(s) * 0.99)]), "mean_ns": round(sum(s) / len(s))}))


measure("JSON: envelope + payload parse (Python json)", lambda: json.loads(json.loads(ENVELOPE)["payload"]))
