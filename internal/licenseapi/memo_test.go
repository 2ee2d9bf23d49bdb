package licenseapi

import "testing"

func TestMemoStartsOverPastItsBound(t *testing.T) {
	m := newMemo[int, string](3)
	for i := range 3 {
		m.put(i, "v")
	}
	if _, ok := m.get(2); !ok {
		t.Fatal("an entry within the bound is gone")
	}
	m.put(3, "w") // the fourth: starts again empty
	if _, ok := m.get(0); ok {
		t.Error("past the bound the old entries are still held")
	}
	if v, ok := m.get(3); !ok || v != "w" {
		t.Errorf("get(3) = %q, %t", v, ok)
	}
	if len(m.m) != 1 {
		t.Errorf("%d entries, want 1", len(m.m))
	}
}
