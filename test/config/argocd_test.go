package config

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	lua "github.com/yuin/gopher-lua"
	"sigs.k8s.io/yaml"
)

const healthLua = "config/argocd/health.lua"

var healthKeys = []string{
	"resource.customizations.health.licensing.kubelicense.io_Product",
	"resource.customizations.health.licensing.kubelicense.io_LicenseTemplate",
	"resource.customizations.health.licensing.kubelicense.io_Licensee",
}

func TestHealthLuaMapsLicensedReasons(t *testing.T) {
	script := string(readFile(t, healthLua))
	for _, want := range []string{`"Suspended"`, `"Expired"`, `"Degraded"`, `"Stalled"`, `"Healthy"`, `"Progressing"`, "observedGeneration"} {
		if !strings.Contains(script, want) {
			t.Errorf("%s does not mention %s", healthLua, want)
		}
	}
}

// health runs the script as Argo CD does: gopher-lua with only the base, table,
// string and math libraries, the object as the global obj, and the returned table
// read as {status, message}.
func health(t *testing.T, script, object string) (status, message string) {
	t.Helper()
	var obj map[string]any
	if err := yaml.Unmarshal([]byte(object), &obj); err != nil {
		t.Fatalf("sample object: %v", err)
	}
	L := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer L.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{{lua.BaseLibName, lua.OpenBase}, {lua.TabLibName, lua.OpenTable}, {lua.StringLibName, lua.OpenString}, {lua.MathLibName, lua.OpenMath}} {
		L.Push(L.NewFunction(lib.open))
		L.Push(lua.LString(lib.name))
		L.Call(1, 0)
	}
	L.SetGlobal("obj", toLua(L, obj))
	if err := L.DoString(script); err != nil {
		t.Fatalf("run %s: %v", healthLua, err)
	}
	ret, ok := L.Get(-1).(*lua.LTable)
	if !ok {
		t.Fatalf("%s returned %s, want a table", healthLua, L.Get(-1).Type())
	}
	if m := ret.RawGetString("message"); m != lua.LNil {
		message = m.String()
	}
	return ret.RawGetString("status").String(), message
}

// toLua converts decoded JSON the way Argo CD does: objects and arrays become
// tables (arrays 1-based), numbers LNumber.
func toLua(L *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case map[string]any:
		tbl := L.NewTable()
		for k, e := range v {
			tbl.RawSetString(k, toLua(L, e))
		}
		return tbl
	case []any:
		tbl := L.NewTable()
		for _, e := range v {
			tbl.Append(toLua(L, e))
		}
		return tbl
	case string:
		return lua.LString(v)
	case bool:
		return lua.LBool(v)
	case float64:
		return lua.LNumber(v)
	case int64:
		return lua.LNumber(v)
	case nil:
		return lua.LNil
	default:
		panic(fmt.Sprintf("toLua: unexpected %T", v))
	}
}

// object builds a sample: kind, generation, observedGeneration and conditions
// written as "Type=Status/Reason: message".
func object(kind string, generation, observed int, conditions ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: licensing.kubelicense.io/v1alpha1\nkind: %s\nmetadata: {name: x, namespace: licensing, generation: %d}\n", kind, generation)
	if observed < 0 {
		return b.String()
	}
	fmt.Fprintf(&b, "status:\n  observedGeneration: %d\n  conditions:", observed)
	if len(conditions) == 0 {
		b.WriteString(" []")
	}
	b.WriteString("\n")
	re := regexp.MustCompile(`^(\w+)=(\w+)/(\w+): (.*)$`)
	for _, c := range conditions {
		m := re.FindStringSubmatch(c)
		fmt.Fprintf(&b, "  - {type: %s, status: %q, reason: %s, message: %q, observedGeneration: %d, lastTransitionTime: \"2026-11-23T10:00:00Z\"}\n",
			m[1], m[2], m[3], m[4], observed)
	}
	return b.String()
}

func TestHealthLua(t *testing.T) {
	script := string(readFile(t, healthLua))
	for _, tc := range []struct {
		name, object, status, message string
	}{
		{"fresh licensee", object("Licensee", 1, -1), "Progressing", "Waiting for the controller to report status"},
		{"no conditions yet", object("Licensee", 1, 0), "Progressing", "Waiting for the controller to report status"},
		{"old generation", object("Licensee", 3, 2,
			"Ready=True/Issued: token s1 is in Secret globex-license", "Licensed=False/Expired: license main ended"),
			"Progressing", "Waiting for the controller to observe generation 3 (observed 2)"},
		{"issued", object("Licensee", 2, 2,
			"Ready=True/Issued: token s1 is in Secret globex-license", "Licensed=True/Valid: license main is valid until 2027-12-01"),
			"Healthy", "license main is valid until 2027-12-01"},
		{"in grace period", object("Licensee", 2, 2,
			"Ready=True/Issued: token s1 is in Secret globex-license", "Licensed=True/InGracePeriod: license main ended, grace until 2027-12-08"),
			"Healthy", "license main ended, grace until 2027-12-08"},
		{"suspended", object("Licensee", 2, 2,
			"Ready=True/Issued: token s2 is in Secret globex-license", "Licensed=False/Suspended: the licensee is suspended"),
			"Suspended", "the licensee is suspended"},
		{"expired", object("Licensee", 2, 2,
			"Ready=True/Issued: token s2 is in Secret globex-license", "Licensed=False/Expired: license main ended on 2026-12-01"),
			"Degraded", "license main ended on 2026-12-01"},
		{"stalled", object("Licensee", 2, 2,
			"Ready=False/InvalidLicense: feature sharding is not in product acme-db", "Stalled=True/InvalidLicense: feature sharding is not in product acme-db"),
			"Degraded", "feature sharding is not in product acme-db"},
		{"not ready, not stalled", object("Licensee", 2, 2,
			"Ready=False/TemplateNotFound: LicenseTemplate enterprise-annual not found"),
			"Progressing", "LicenseTemplate enterprise-annual not found"},
		{"not yet valid", object("Licensee", 2, 2,
			"Ready=True/Issued: token s1 is in Secret globex-license", "Licensed=False/NotYetValid: license main starts 2027-01-01"),
			"Healthy", "license main starts 2027-01-01"},

		{"copies current", object("Licensee", 2, 2,
			"Ready=True/Issued: token s1 is in Secret globex-license", "Licensed=True/Valid: license main is valid until 2027-12-01",
			"Distributed=True/Distributed: copies are current in 2 namespaces"),
			"Healthy", "license main is valid until 2027-12-01"},
		{"copy blocked by a foreign Secret", object("Licensee", 2, 2,
			"Ready=True/Issued: token s1 is in Secret globex-license", "Licensed=True/Valid: license main is valid until 2027-12-01",
			"Distributed=False/SecretConflict: namespace app-a holds a Secret globex-license not written by kubelicense"),
			"Degraded", "namespace app-a holds a Secret globex-license not written by kubelicense"},
		{"target namespace not opted in", object("Licensee", 2, 2,
			"Ready=True/Issued: token s1 is in Secret globex-license", "Licensed=True/Valid: license main is valid until 2027-12-01",
			"Distributed=False/NamespaceNotOptedIn: label namespace app-b with licensing.kubelicense.io/accept-from=licensing"),
			"Degraded", "label namespace app-b with licensing.kubelicense.io/accept-from=licensing"},
		{"target namespace not there yet", object("Licensee", 2, 2,
			"Ready=True/Issued: token s1 is in Secret globex-license", "Licensed=True/Valid: license main is valid until 2027-12-01",
			"Distributed=False/NamespaceNotFound: namespace app-c does not exist yet"),
			"Progressing", "namespace app-c does not exist yet"},

		{"product ready", object("Product", 1, 1, "Ready=True/Reconciled: key k1 published in acme-db-license-keys", "KeyAvailable=True/KeyReady: key k1"),
			"Healthy", "key k1 published in acme-db-license-keys"},
		{"product key missing", object("Product", 1, 1,
			"Ready=False/SigningKeyMissing: Secret acme-db-signing-key was deleted", "Stalled=True/SigningKeyMissing: restore Secret acme-db-signing-key or request a rotation"),
			"Degraded", "restore Secret acme-db-signing-key or request a rotation"},
		{"product reconciling", object("Product", 1, 1, "Ready=False/ReconcileError: conflict"), "Progressing", "conflict"},
		{"product fresh", object("Product", 1, -1), "Progressing", "Waiting for the controller to report status"},

		{"template ready", object("LicenseTemplate", 4, 4, "Ready=True/Reconciled: consistent with product acme-db"),
			"Healthy", "consistent with product acme-db"},
		{"template unknown feature", object("LicenseTemplate", 4, 4,
			"Ready=False/UnknownFeature: feature sharding is not in product acme-db", "Stalled=True/UnknownFeature: feature sharding is not in product acme-db"),
			"Degraded", "feature sharding is not in product acme-db"},
		{"template old generation", object("LicenseTemplate", 5, 4, "Ready=True/Reconciled: consistent with product acme-db"),
			"Progressing", "Waiting for the controller to observe generation 5 (observed 4)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, message := health(t, script, tc.object)
			if status != tc.status || message != tc.message {
				t.Errorf("health = %s %q, want %s %q\nobject:\n%s", status, message, tc.status, tc.message, tc.object)
			}
		})
	}
}

// TestArgoCDConfigMap checks that the rendered argocd-cm keys and the README
// snippet carry exactly health.lua, for each kind.
func TestArgoCDConfigMap(t *testing.T) {
	script := string(readFile(t, healthLua))
	objs := render(t, "config/argocd")
	cms := ofKind(objs, "ConfigMap")
	if len(cms) != 1 || cms[0].GetName() != "argocd-cm" || cms[0].GetNamespace() != "argocd" {
		t.Fatalf("config/argocd must render only argocd/argocd-cm, got %v", names(objs))
	}
	data := cms[0].Object["data"].(map[string]any)
	if len(data) != len(healthKeys) {
		t.Errorf("argocd-cm has %d keys, want %d", len(data), len(healthKeys))
	}
	for _, k := range healthKeys {
		if data[k] != script {
			t.Errorf("argocd-cm %s is not health.lua", k)
		}
	}

	readme := string(readFile(t, "config/argocd/README.md"))
	m := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindStringSubmatch(readme)
	if m == nil {
		t.Fatal("config/argocd/README.md has no yaml snippet")
	}
	var snippet struct{ Data map[string]string }
	if err := yaml.Unmarshal([]byte(m[1]), &snippet); err != nil {
		t.Fatalf("README snippet: %v", err)
	}
	for _, k := range healthKeys {
		if snippet.Data[k] != script {
			t.Errorf("README snippet %s is not health.lua; copy the script again", k)
		}
	}
}
