package plugin

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/kubelicense/kubelicense/pkg/license"
)

func inspectInput(token string) *licenseInput {
	key := testKey(1)
	licensee := licenseeObject("licensing", "globex", "acme-db", "main", "trial")
	licensee.Status = validStatus("ffffffffffffffffffffffffffffffff")
	return &licenseInput{
		Token:     token,
		Keys:      must(license.ParseJWKS(jwksOf(key))),
		TokenFrom: "secret licensing/globex-license, key license.jwt",
		KeysFrom:  "configmap licensing/acme-db-license-keys, key jwks.json",
		Licensee:  licensee,
	}
}

func TestInspectRender(t *testing.T) {
	in := inspectInput(sign(sampleClaims("licensing", "acme-db", "globex", testNow), testKey(1)))
	var out bytes.Buffer
	if err := newInspectReport(in, in.verify(testNow, "")).render(&out); err != nil {
		t.Fatal(err)
	}
	want := `Token:        secret licensing/globex-license, key license.jwt
Trust anchor: configmap licensing/acme-db-license-keys, key jwks.json (keys k-20261123-5030d178e665)
Checked at:   2026-12-01T12:00:00Z
Result:       VALID (valid: true)
              valid until 2027-11-30T12:00:00Z (in 364d), then in the grace period until 2027-12-07T12:00:00Z (in 371d)
Note:         the Secret holds serial 0123456789abcdef0123456789abcdef but licensee status.serial is ffffffffffffffffffffffffffffffff: the controller has not caught up yet, or something else wrote the Secret

Licensee:     globex (Globex Corp.), external ID crm-00042
Product:      acme-db (Acme DB)
Serial:       0123456789abcdef0123456789abcdef
Issuer:       licensing.kubelicense.io/licensing/acme-db
Audience:     acme-db
Issued at:    2026-12-01T11:00:00Z (60m ago)
Token expiry: none
Features:     backup, replication
Quotas:       nodes=20
Licenses:
  NAME    STATE     TYPE           TEMPLATE            STARTS                 VALID UNTIL            GRACE UNTIL            FEATURES             QUOTAS
  main    VALID     Subscription   enterprise-annual   2026-11-30T12:00:00Z   2027-11-30T12:00:00Z   2027-12-07T12:00:00Z   backup,replication   nodes=20
  trial   EXPIRED   Trial          trial-30d           2026-10-02T12:00:00Z   2026-11-01T12:00:00Z   2026-11-01T12:00:00Z   analytics            -
`
	if got := out.String(); got != want {
		t.Errorf("inspect output:\n%s\nwant:\n%s", got, want)
	}
}

func TestInspectRenderRefusedToken(t *testing.T) {
	claims := sampleClaims("licensing", "acme-db", "globex", testNow)
	in := inspectInput(sign(claims, testKey(2)))
	var out bytes.Buffer
	if err := newInspectReport(in, in.verify(testNow, "")).render(&out); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{
		"Result:       UNKNOWN_KEY (valid: false)",
		`token signed with key "k-20261123-`,
		"Claims are not shown: the token did not verify",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("inspect output lacks %q:\n%s", want, got)
		}
	}
	// Nothing from the unverified payload may be shown as if it were true.
	for _, leak := range []string{"Globex Corp.", "replication", claims.ID} {
		if strings.Contains(got, leak) {
			t.Errorf("inspect output shows %q from a token that did not verify:\n%s", leak, got)
		}
	}
}

func TestInspectJSON(t *testing.T) {
	in := inspectInput(sign(sampleClaims("licensing", "acme-db", "globex", testNow), testKey(1)))
	var out bytes.Buffer
	if err := writeJSON(&out, newInspectReport(in, in.verify(testNow, "analytics"))); err != nil {
		t.Fatal(err)
	}
	var got struct {
		CheckedAt string `json:"checkedAt"`
		Result    struct {
			Code    string `json:"code"`
			Valid   bool   `json:"valid"`
			Feature string `json:"feature"`
		} `json:"result"`
		Claims struct {
			Subject string `json:"sub"`
		} `json:"claims"`
		Licenses []struct {
			Name, State, ValidUntil string
		} `json:"licenses"`
		Features []string         `json:"features"`
		Quotas   map[string]int64 `json:"quotas"`
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("inspect -o json is not JSON: %v\n%s", err, out.String())
	}
	if got.CheckedAt != "2026-12-01T12:00:00Z" || got.Result.Code != "FEATURE_NOT_ENTITLED" || got.Result.Valid || got.Result.Feature != "analytics" {
		t.Errorf("checkedAt, result = %s, %+v", got.CheckedAt, got.Result)
	}
	if got.Claims.Subject != "globex" || len(got.Licenses) != 2 || got.Licenses[0].State != "VALID" || got.Licenses[1].State != "EXPIRED" ||
		got.Licenses[0].ValidUntil != "2027-11-30T12:00:00Z" {
		t.Errorf("claims, licenses = %+v, %+v", got.Claims, got.Licenses)
	}
	if strings.Join(got.Features, ",") != "backup,replication" || got.Quotas["nodes"] != 20 {
		t.Errorf("features, quotas in force = %v, %v", got.Features, got.Quotas)
	}
}
