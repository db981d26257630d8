"""Writes the Hybris simulator's users for the benchmarks: returning members bench0..N-1 and
never-seen members new0..M-1, all with a current membership and the password Bench-2026!.
Usage: python3 bench/users.py RETURNING NEW > users.json"""
import json
import sys

returning, new = int(sys.argv[1]), int(sys.argv[2])


def member(uid, n):
    return {
        "uid": uid,
        "customerId": f"bench-{uid}",
        "password": "Bench-2026!",
        "firstName": "Bench",
        "lastName": f"Member {n}",
        "rccMembershipNumber": f"RCC-B{n}",
        "rccMemberShipStartDate": "2020-01-01T00:00:00+0000",
        "rccMemberShipEndDate": "2099-12-31T00:00:00+0000",
        "rccChapter": "Bench",
    }


users = [member(f"bench{i}@example.org", i) for i in range(returning)]
users += [member(f"new{i}@example.org", i) for i in range(new)]
json.dump(users, sys.stdout)
