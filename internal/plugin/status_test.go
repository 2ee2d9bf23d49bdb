package plugin

import (
	"bytes"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
)

func statusRows() []licenseeSummary {
	globex := licenseeObject("licensing", "globex", "acme-db", "main", "trial")
	globex.Status = validStatus("0123456789abcdef")
	globex.Status.Licenses[0].Seats, globex.Status.Licenses[0].SeatsInUse = 5, 2
	globex.Status.Licenses[0].MaxActivations, globex.Status.Licenses[0].Activations = 3, 1
	initech := licenseeObject("sales", "initech", "acme-db", "main")
	initech.Status = expiredStatus()
	initech.Generation = 2
	fresh := licenseeObject("sales", "umbrella", "acme-db")
	fresh.Spec.Secret.Name = "umbrella-key"
	return []licenseeSummary{summarizeLicensee(globex), summarizeLicensee(initech), summarizeLicensee(fresh)}
}

func TestRenderStatusTable(t *testing.T) {
	tests := []struct {
		name string
		opts tableOptions
		want string
	}{
		{
			name: "namespace",
			want: `
LICENSEE   PRODUCT   LICENSED          LICENSES                    EXPIRES                          SEATS   ACTIVATIONS   READY
globex     acme-db   True (Valid)      main=Valid, trial=Expired   in 364d (2027-11-30T12:00:00Z)   2/5     1/3           True
initech    acme-db   False (Expired)   main=Expired                -                                -       -             False (SecretConflict)
umbrella   acme-db   -                 <none>                      -                                -       -             -
`,
		},
		{
			name: "all namespaces",
			opts: tableOptions{namespaces: true},
			want: `
NAMESPACE   LICENSEE   PRODUCT   LICENSED          LICENSES                    EXPIRES                          SEATS   ACTIVATIONS   READY
licensing   globex     acme-db   True (Valid)      main=Valid, trial=Expired   in 364d (2027-11-30T12:00:00Z)   2/5     1/3           True
sales       initech    acme-db   False (Expired)   main=Expired                -                                -       -             False (SecretConflict)
sales       umbrella   acme-db   -                 <none>                      -                                -       -             -
`,
		},
		{
			name: "wide",
			opts: tableOptions{wide: true},
			want: `
LICENSEE   PRODUCT   LICENSED          LICENSES                    EXPIRES                          SEATS   ACTIVATIONS   READY                    SERIAL             KEY ID                    ISSUED    NEXT CHECK   SECRET            MESSAGE
globex     acme-db   True (Valid)      main=Valid, trial=Expired   in 364d (2027-11-30T12:00:00Z)   2/5     1/3           True                     0123456789abcdef   k-20261123-5030d178e665   60m ago   in 364d      globex-license    -
initech    acme-db   False (Expired)   main=Expired                -                                -       -             False (SecretConflict)   -                  -                         -         -            initech-license   secret initech-license is owned by another writer
umbrella   acme-db   -                 <none>                      -                                -       -             -                        -                  -                         -         -            umbrella-key      -
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := renderStatusTable(&out, statusRows(), testNow, tt.opts); err != nil {
				t.Fatal(err)
			}
			if got, want := out.String(), strings.TrimPrefix(tt.want, "\n"); got != want {
				t.Errorf("table:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func TestSummarizeLicensee(t *testing.T) {
	rows := statusRows()
	if !rows[0].UpToDate || rows[1].UpToDate {
		t.Errorf("UpToDate = %t, %t; want true for observedGeneration == generation, false behind it", rows[0].UpToDate, rows[1].UpToDate)
	}
	if got := rows[2].SecretName; got != "umbrella-key" {
		t.Errorf("SecretName = %q, want spec.secret.name before status.secretName is written", got)
	}
	if got := rows[0].SecretName; got != "globex-license" {
		t.Errorf("SecretName = %q, want the default <licensee>-license", got)
	}
	if rows[2].Licenses == nil {
		t.Error("Licenses is nil; -o json must print [] for a licensee without licenses")
	}
}

func TestExpiresCell(t *testing.T) {
	licensed := &conditionSummary{Status: metav1.ConditionTrue, Reason: "Valid"}
	past := testNow.Add(-3 * day)
	tests := []struct {
		name string
		row  licenseeSummary
		want string
	}{
		{"licensed, no end", licenseeSummary{Licensed: licensed}, "never"},
		{"no status yet", licenseeSummary{}, "-"},
		{"not licensed, no end", licenseeSummary{Licensed: &conditionSummary{Status: metav1.ConditionFalse}}, "-"},
		{"ended", licenseeSummary{Licensed: licensed, ExpiresAt: &past}, "3d ago (2026-11-28T12:00:00Z)"},
	}
	for _, tt := range tests {
		if got := expiresCell(tt.row, testNow); got != tt.want {
			t.Errorf("%s: expiresCell() = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestConditionCells(t *testing.T) {
	tests := []struct {
		c             *conditionSummary
		licensed, rdy string
	}{
		{nil, "-", "-"},
		{&conditionSummary{Status: metav1.ConditionTrue, Reason: "InGracePeriod"}, "True (InGracePeriod)", "True"},
		{&conditionSummary{Status: metav1.ConditionFalse, Reason: "Suspended"}, "False (Suspended)", "False (Suspended)"},
		{&conditionSummary{Status: metav1.ConditionUnknown}, "Unknown", "Unknown"},
	}
	for _, tt := range tests {
		if got := licensedCell(tt.c); got != tt.licensed {
			t.Errorf("licensedCell(%+v) = %q, want %q", tt.c, got, tt.licensed)
		}
		if got := readyCell(tt.c); got != tt.rdy {
			t.Errorf("readyCell(%+v) = %q, want %q", tt.c, got, tt.rdy)
		}
	}
}

func TestSummaryTimesAreUTC(t *testing.T) {
	l := licenseeObject("licensing", "globex", "acme-db")
	l.Status.ExpiresAt = metaTime(time.Date(2027, 1, 1, 1, 0, 0, 0, time.FixedZone("CET", 3600)))
	l.Status.Licenses = []licensingv1alpha1.LicenseStatus{{Name: "main", State: licensingv1alpha1.LicenseStateValid}}
	s := summarizeLicensee(l)
	if got := s.ExpiresAt.Location(); got != time.UTC {
		t.Errorf("ExpiresAt location = %v, want UTC", got)
	}
}

func TestUsageCells(t *testing.T) {
	lic := func(seats, inUse, max, acts int32) licenseSummary {
		return licenseSummary{Seats: seats, SeatsInUse: inUse, MaxActivations: max, Activations: acts}
	}
	tests := []struct {
		name              string
		licenses          []licenseSummary
		seats, activation string
	}{
		{"no licenses", nil, "-", "-"},
		{"no limits", []licenseSummary{lic(0, 0, 0, 0)}, "-", "-"},
		{"one license", []licenseSummary{lic(5, 2, 3, 0)}, "2/5", "0/3"},
		{"summed", []licenseSummary{lic(5, 2, 3, 1), lic(10, 10, 0, 0), lic(0, 0, 2, 2)}, "12/15", "3/5"},
		// Lowering a limit keeps what is in use: say so rather than "-".
		{"limit removed, still in use", []licenseSummary{lic(0, 1, 0, 2)}, "1/0", "2/0"},
	}
	for _, tt := range tests {
		if got := seatsCell(tt.licenses); got != tt.seats {
			t.Errorf("%s: seatsCell() = %q, want %q", tt.name, got, tt.seats)
		}
		if got := activationsCell(tt.licenses); got != tt.activation {
			t.Errorf("%s: activationsCell() = %q, want %q", tt.name, got, tt.activation)
		}
	}
}
