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

func TestSoftMemoryLimit(t *testing.T) {
	for _, tc := range []struct {
		name, gomemlimit, limit string
		want                    int64
		wantErr                 bool
	}{
		{name: "no container limit", want: 0},
		{name: "90% of the container's limit", limit: "268435456", want: 241591910},
		{name: "GOMEMLIMIT set by the user wins", gomemlimit: "100MiB", limit: "268435456", want: 0},
		{name: "surrounding space", limit: " 1000 ", want: 900},
		{name: "a quantity is not bytes", limit: "256Mi", wantErr: true},
		{name: "zero", limit: "0", wantErr: true},
		{name: "negative", limit: "-1", wantErr: true},
		{name: "out of range", limit: "99999999999999999999", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"GOMEMLIMIT": tc.gomemlimit, memoryLimitEnv: tc.limit}
			got, err := softMemoryLimit(func(k string) string { return env[k] })
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("softMemoryLimit = %d, %v; want %d, error %v", got, err, tc.want, tc.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), memoryLimitEnv) {
				t.Errorf("error %q does not name %s", err, memoryLimitEnv)
			}
		})
	}
}

func TestGCPercent(t *testing.T) {
	if got := gcPercent(func(string) string { return "" }); got != defaultGCPercent {
		t.Errorf("GOGC unset: %d, want the manager's default %d", got, defaultGCPercent)
	}
	for _, gogc := range []string{"100", "off", "200"} {
		env := func(k string) string {
			if k == "GOGC" {
				return gogc
			}
			return ""
		}
		if got := gcPercent(env); got != 0 {
			t.Errorf("GOGC=%s: %d, want 0 (the user's GOGC stays)", gogc, got)
		}
	}
}
