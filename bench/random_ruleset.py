#!/usr/bin/env python3
# Random ClassBench-like firewall rules (seeded: every run the same) for the
# API and console benches: a ruleset of N rules to PUT, and optionally
# ADDS more single rules to POST, one file each.
# Usage: random_ruleset.py N RULESET_JSON [ADDS ADD_PREFIX]   (ADD_PREFIX + i + ".json")
import json
import random
import sys

n, ruleset_path = int(sys.argv[1]), sys.argv[2]
adds, add_prefix = (int(sys.argv[3]), sys.argv[4]) if len(sys.argv) > 4 else (0, "")
rnd = random.Random(7)


def prefix():
    length = rnd.choice([0, 8, 16, 16, 24, 24, 24, 28, 32, 32])
    addr = rnd.getrandbits(32) & (0 if length == 0 else (0xFFFFFFFF << (32 - length)) & 0xFFFFFFFF)
    return f"{addr >> 24}.{(addr >> 16) & 255}.{(addr >> 8) & 255}.{addr & 255}/{length}"


def ports():
    return rnd.choice([[], [80], [443], [53], ["1024-65535"], [rnd.randrange(1, 65535)]])


def rule(i):
    m = {"src": [prefix()], "dst": [prefix()], "proto": [rnd.choice(["tcp", "udp"])]}
    if (p := ports()):
        m["dst_port"] = p
    return {"name": f"r{i}", "priority": i, "action": rnd.choice(["pass", "drop"]), "match": m}


json.dump({"default": "pass", "rules": [rule(i) for i in range(n)]}, open(ruleset_path, "w"))
for i in range(adds):
    json.dump(rule(n + i), open(f"{add_prefix}{i}.json", "w"))
