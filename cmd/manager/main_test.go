package main

import (
	"slices"
	"strings"
	"testing"
)

func TestParseNamespaces(t *testing.T) {
	got, err := parseNamespaces(" customers-b,customers-a,,customers-b ")
	if err != nil || !slices.Equal(got, []string{"customers-a", "customers-b"}) {
		t.Errorf("got %v, %v; want [customers-a customers-b]", got, err)
	}
	if got, err := parseNamespaces(""); err != nil || got != nil {
		t.Errorf("empty: got %v, %v; want every namespace (nil)", got, err)
	}
	for _, bad := range []string{"Customers", "a/b", "ns,../etc", strings.Repeat("x", 64)} {
		if _, err := parseNamespaces(bad); err == nil || !strings.Contains(err.Error(), "--watch-namespaces") {
			t.Errorf("%q: got %v, want an error naming the flag", bad, err)
		}
	}
}

func TestEachShardElectsItsOwnLeader(t *testing.T) {
	all, a, b := leaderElectionID(nil), leaderElectionID([]string{"customers-a"}), leaderElectionID([]string{"customers-b"})
	if all != "kubelicense.licensing.kubelicense.io" {
		t.Errorf("the unsharded manager's Lease changed to %s: a rollout would run two leaders", all)
	}
	if a == all || a == b || a != leaderElectionID([]string{"customers-a"}) {
		t.Errorf("shard Leases %s, %s, %s must differ from each other and be stable", all, a, b)
	}
}
