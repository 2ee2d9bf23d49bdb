package agent

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/kubelicense/kubelicense/pkg/license"
)

// Paths of the agent's endpoints.
const (
	pathLicense    = "/v1/license"
	prefixFeatures = "/v1/features/"
	prefixQuotas   = "/v1/quotas/"
	pathHealthz    = "/healthz"
	pathReadyz     = "/readyz"
	pathMetrics    = "/metrics"
)

// Codes of HTTP-level errors. They are not validation results, so they are not
// among the license codes.
const (
	codeNotFound         = "NOT_FOUND"
	codeMethodNotAllowed = "METHOD_NOT_ALLOWED"
	codeHostNotAllowed   = "HOST_NOT_ALLOWED"
	codeInternal         = "INTERNAL"
)

// jsonContentType is assigned to the header map directly, which spares the
// per-response allocation of Header.Set; net/http never modifies it.
var jsonContentType = []string{"application/json"}

// Handler serves the license API, health and metrics.
func (a *Agent) Handler() http.Handler { return http.HandlerFunc(a.serveAPI) }

// ProbeHandler serves only /healthz, /readyz and /metrics, for a listener that
// kubelet and Prometheus can reach without exposing the license API.
func (a *Agent) ProbeHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodConnect {
			readOnly(w, r)
			return
		}
		if !a.serveProbe(w, r) {
			writeError(w, http.StatusNotFound, codeNotFound, fmt.Sprintf(
				"no endpoint %s here; this address serves only %s, %s and %s, the license API is on --listen",
				r.URL.Path, pathHealthz, pathReadyz, pathMetrics))
		}
	})
}

// serveAPI routes by hand: the feature check is the hot path, and a prefix test
// is cheaper than a pattern mux; it also keeps every 404 and 405 in JSON.
func (a *Agent) serveAPI(w http.ResponseWriter, r *http.Request) {
	if !a.hostAllowed(r.Host) {
		writeError(w, http.StatusMisdirectedRequest, codeHostNotAllowed, fmt.Sprintf(
			"Host %q is not served here: the agent answers only localhost, loopback addresses and --allowed-host names, so that a web page cannot reach it through DNS rebinding; "+
				"if applications call the agent by this name, start it with --allowed-host=%s", r.Host, hostOf(r.Host)))
		return
	}
	path := r.URL.Path
	switch {
	case r.Method == http.MethodConnect:
		readOnly(w, r)
	case strings.HasPrefix(path, prefixFeatures):
		if name, ok := pathName(w, r, prefixFeatures); ok {
			a.serveFeature(w, name)
		}
	case strings.HasPrefix(path, prefixQuotas):
		if name, ok := pathName(w, r, prefixQuotas); ok {
			a.serveQuota(w, name)
		}
	case path == pathLicense:
		if readOnly(w, r) {
			a.serveLicense(w)
		}
	case !a.serveProbe(w, r):
		writeError(w, http.StatusNotFound, codeNotFound, fmt.Sprintf(
			"no endpoint %s; the agent serves %s, %s{name}, %s{name}, %s, %s and %s",
			path, pathLicense, prefixFeatures, prefixQuotas, pathHealthz, pathReadyz, pathMetrics))
	}
}

// serveProbe answers the health and metrics endpoints; it reports false, having
// written nothing, for any other path.
func (a *Agent) serveProbe(w http.ResponseWriter, r *http.Request) bool {
	switch r.URL.Path {
	case pathHealthz:
		if readOnly(w, r) {
			writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		}
	case pathReadyz:
		if readOnly(w, r) {
			a.serveReady(w)
		}
	case pathMetrics:
		if readOnly(w, r) {
			a.metrics.handler.ServeHTTP(w, r)
		}
	default:
		return false
	}
	return true
}

// pathName is the {name} after prefix, or answers 404/405 itself.
func pathName(w http.ResponseWriter, r *http.Request, prefix string) (string, bool) {
	name := r.URL.Path[len(prefix):]
	if name == "" || strings.Contains(name, "/") {
		writeError(w, http.StatusNotFound, codeNotFound, fmt.Sprintf("no endpoint %s; use GET %s{name}", r.URL.Path, prefix))
		return "", false
	}
	return name, readOnly(w, r)
}

// readOnly admits GET and HEAD, and answers 405 to anything else.
func readOnly(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header()["Allow"] = []string{"GET, HEAD"}
	target := r.URL.Path
	if r.Method == http.MethodConnect {
		target = r.Host // CONNECT names a tunnel's end, not a path
	}
	writeError(w, http.StatusMethodNotAllowed, codeMethodNotAllowed, fmt.Sprintf("%s is not allowed on %s; the agent is read-only, use GET", r.Method, target))
	return false
}

// hostAllowed admits a Host header naming localhost, a loopback address or an
// --allowed-host. A page that rebinds its own name to 127.0.0.1 still has the
// browser send that name, so refusing it keeps web pages out; other clients
// (HTTP/1.0 without Host) are not browsers.
func (a *Agent) hostAllowed(hostport string) bool {
	if hostport == "" {
		return true
	}
	host := strings.TrimSuffix(hostOf(hostport), ".")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	if addr, err := netip.ParseAddr(host); err == nil {
		addr = addr.Unmap()
		return addr.IsLoopback() || a.allowedHosts[addr.WithZone("").String()]
	}
	return len(a.allowedHosts) > 0 && a.allowedHosts[strings.ToLower(host)]
}

// hostOf is the host of a Host header: without the port, and without the
// brackets of an IPv6 address.
func hostOf(hostport string) string {
	if rest, ok := strings.CutPrefix(hostport, "["); ok {
		if end := strings.IndexByte(rest, ']'); end >= 0 {
			return rest[:end]
		}
		return hostport
	}
	if i := strings.LastIndexByte(hostport, ':'); i >= 0 && strings.IndexByte(hostport, ':') == i {
		return hostport[:i]
	}
	return hostport // a name, an IPv4 address or a bare IPv6 address
}

// featureResponse is the body of /v1/features/{name}.
type featureResponse struct {
	Feature  string       `json:"feature"`
	Entitled bool         `json:"entitled"`
	Code     license.Code `json:"code"`
	Message  string       `json:"message,omitempty"`
	sourceInfo
}

// serveFeature is the hot path: one atomic load, a clock read, a map lookup and
// integer comparisons, then a body encoded at reload time (online: when the
// verdict arrived).
func (a *Agent) serveFeature(w http.ResponseWriter, name string) {
	t := a.now()
	info := fromToken
	if a.online != nil {
		kind, ov, src := a.link(t)
		switch kind {
		case linkOnline:
			ov.writeFeature(w, name)
			return
		case linkClosed:
			v := a.closedVerdict(src)
			writeJSON(w, http.StatusForbidden, featureResponse{Feature: name, Code: v.code, Message: v.message, sourceInfo: src})
			return
		}
		info = src
	}
	s, fail := a.check(t)
	if fail != nil {
		writeJSON(w, http.StatusForbidden, featureResponse{Feature: name, Code: fail.Code, Message: fail.Message, sourceInfo: info})
		return
	}
	writeFeature(w, s, name, t, info)
}

// writeFeature answers for feature name at t from a token that stands at t.
// pkg/license decides (Index.FeatureState) and explains.
func writeFeature(w http.ResponseWriter, s *snapshot, name string, t time.Time, info sourceInfo) {
	code := s.index.FeatureState(name, t)
	if b := s.bodies[name]; b != nil && info == fromToken {
		switch code {
		case license.CodeValid:
			writeBody(w, http.StatusOK, b.valid)
			return
		case license.CodeInGracePeriod:
			writeBody(w, http.StatusOK, b.grace)
			return
		}
	}
	if code.Entitling() { // online mode, answering from the token
		writeJSON(w, http.StatusOK, featureResponse{Feature: name, Entitled: true, Code: code, sourceInfo: info})
		return
	}
	writeJSON(w, http.StatusForbidden, featureResponse{Feature: name, Code: code, Message: denial(s, code, "feature", name, t), sourceInfo: info})
}

// writeFeature answers for feature name from the verdict: entitled when the
// verdict entitles and grants it.
func (ov *onlineVerdict) writeFeature(w http.ResponseWriter, name string) {
	if b := ov.bodies[name]; b != nil {
		writeBody(w, http.StatusOK, b)
		return
	}
	resp := featureResponse{Feature: name, Code: ov.v.Code, Message: ov.v.Message, sourceInfo: fromOnline}
	if ov.v.Valid {
		resp.Code = license.CodeFeatureNotEntitled
		resp.Message = fmt.Sprintf("feature %s is not granted by a license that entitles now (the license API's verdict)", license.QuoteUntrusted(name))
	}
	writeJSON(w, http.StatusForbidden, resp)
}

// quotaResponse is the body of /v1/quotas/{name}.
type quotaResponse struct {
	Quota   string       `json:"quota"`
	Limit   *int64       `json:"limit,omitempty"`
	Code    license.Code `json:"code"`
	Message string       `json:"message,omitempty"`
	sourceInfo
}

// serveQuota answers 200 with the sum of the quota over the licenses that
// entitle now, 403 when the license or those licenses do not entitle, and 404
// when no license declares the quota.
func (a *Agent) serveQuota(w http.ResponseWriter, name string) {
	t := a.now()
	info := fromToken
	if a.online != nil {
		kind, ov, src := a.link(t)
		switch kind {
		case linkOnline:
			ov.writeQuota(w, name)
			return
		case linkClosed:
			v := a.closedVerdict(src)
			writeJSON(w, http.StatusForbidden, quotaResponse{Quota: name, Code: v.code, Message: v.message, sourceInfo: src})
			return
		}
		info = src
	}
	s, fail := a.check(t)
	if fail != nil {
		writeJSON(w, http.StatusForbidden, quotaResponse{Quota: name, Code: fail.Code, Message: fail.Message, sourceInfo: info})
		return
	}
	code := s.index.QuotaState(name, t)
	if code.Entitling() {
		limit, _ := s.claims.Quota(name, t)
		writeJSON(w, http.StatusOK, quotaResponse{Quota: name, Limit: &limit, Code: code, sourceInfo: info})
		return
	}
	status := http.StatusForbidden
	if code == license.CodeFeatureNotEntitled && !s.quotas[name] {
		status = http.StatusNotFound
	}
	writeJSON(w, status, quotaResponse{Quota: name, Code: code, Message: denial(s, code, "quota", name, t), sourceInfo: info})
}

// writeQuota answers for quota name from the verdict, with the statuses of
// serveQuota.
func (ov *onlineVerdict) writeQuota(w http.ResponseWriter, name string) {
	v := ov.v
	if limit, ok := v.Quotas[name]; ok && v.Valid {
		writeJSON(w, http.StatusOK, quotaResponse{Quota: name, Limit: &limit, Code: v.Code, sourceInfo: fromOnline})
		return
	}
	resp := quotaResponse{Quota: name, Code: v.Code, Message: v.Message, sourceInfo: fromOnline}
	status := http.StatusForbidden
	switch {
	case !v.Valid:
	case ov.declared[name]:
		resp.Code = license.CodeFeatureNotEntitled
		resp.Message = fmt.Sprintf("quota %s is declared only by licenses that do not count now (the license API's verdict)", license.QuoteUntrusted(name))
	default:
		status, resp.Code = http.StatusNotFound, license.CodeFeatureNotEntitled
		resp.Message = fmt.Sprintf("quota %s is not declared by any license (the license API's verdict)", license.QuoteUntrusted(name))
	}
	writeJSON(w, status, resp)
}

// denial explains code, a refusal of kind name at t: the state of the license
// as a whole, or FEATURE_NOT_ENTITLED (quotas too) when only name is not
// entitled. The texts are pkg/license's.
func denial(s *snapshot, code license.Code, kind, name string, t time.Time) string {
	switch {
	case code != license.CodeFeatureNotEntitled:
		return s.claims.Explain(code, t, nil)
	case kind == "quota":
		return s.claims.ExplainQuota(name, t)
	default:
		return s.claims.ExplainFeature(name, t)
	}
}

// licenseResponse is the body of /v1/license.
type licenseResponse struct {
	Valid          bool             `json:"valid"`
	Code           license.Code     `json:"code"`
	Message        string           `json:"message"`
	Licensee       *licenseeJSON    `json:"licensee"`
	Product        *productJSON     `json:"product"`
	Features       []string         `json:"features"`
	Quotas         map[string]int64 `json:"quotas"`
	ExpiresAt      *time.Time       `json:"expiresAt"`
	Serial         string           `json:"serial,omitempty"`
	IssuedAt       *time.Time       `json:"issuedAt,omitempty"`
	TokenExpiresAt *time.Time       `json:"tokenExpiresAt,omitempty"`
	Licenses       []grantJSON      `json:"licenses"`
	sourceInfo
	// CheckedAt is the time of the license API's verdict, when online.
	CheckedAt  *time.Time        `json:"checkedAt,omitempty"`
	Seat       *seatStatus       `json:"seat,omitempty"`
	Activation *activationStatus `json:"activation,omitempty"`
}

type licenseeJSON struct {
	Name        string `json:"name"`
	DisplayName string `json:"displayName,omitempty"`
	ExternalID  string `json:"externalID,omitempty"`
}

type productJSON struct {
	Name        string `json:"name"`
	DisplayName string `json:"displayName,omitempty"`
}

type grantJSON struct {
	Name           string           `json:"name"`
	Template       string           `json:"template"`
	Type           string           `json:"type"`
	State          license.Code     `json:"state"`
	StartsAt       *time.Time       `json:"startsAt"`
	ValidUntil     *time.Time       `json:"validUntil"`
	GraceUntil     *time.Time       `json:"graceUntil,omitempty"`
	Features       []string         `json:"features"`
	Quotas         map[string]int64 `json:"quotas"`
	Seats          int32            `json:"seats,omitempty"`
	SeatsInUse     int32            `json:"seatsInUse,omitempty"`
	MaxActivations int32            `json:"maxActivations,omitempty"`
	Activations    int32            `json:"activations,omitempty"`
}

// decision is what the agent answers at t: from which source, and the verdict
// on the license as a whole.
type decision struct {
	kind    linkKind
	online  *onlineVerdict // when kind is linkOnline
	source  sourceInfo
	snap    *snapshot // the token, whatever the source
	verdict verdict
}

func (a *Agent) decide(t time.Time) decision {
	kind, ov, info := a.link(t)
	d := decision{kind: kind, online: ov, source: info}
	d.snap, d.verdict = a.evaluate(t)
	switch kind {
	case linkOnline:
		d.verdict = verdict{valid: ov.v.Valid, code: ov.v.Code, message: ov.v.Message}
	case linkClosed:
		d.verdict = a.closedVerdict(info)
	}
	return d
}

// serveLicense reports everything about the license at request time. Features
// and quotas are what is entitled now: empty while the license is not valid.
// From the token, the licenses are listed whenever the signature held, even
// when the token itself has lapsed, to show why.
func (a *Agent) serveLicense(w http.ResponseWriter) {
	t := a.now()
	d := a.decide(t)
	var resp licenseResponse
	if d.kind == linkOnline {
		resp = onlineLicense(d.online)
	} else {
		resp = tokenLicense(d.snap.claims, d.verdict, t)
	}
	if c := d.snap.claims; c != nil {
		// The token the agent holds (and authenticates with, online).
		resp.Serial = c.ID
		resp.IssuedAt = unixTime(c.IssuedAt)
		resp.TokenExpiresAt = unixTime(c.Expiry)
	}
	resp.sourceInfo = d.source
	resp.Seat, resp.Activation = a.seatStatus(), a.activationStatus()
	writeJSON(w, http.StatusOK, resp)
}

// tokenLicense is /v1/license from the token's claims c (nil: not verified).
func tokenLicense(c *license.Claims, v verdict, t time.Time) licenseResponse {
	resp := licenseResponse{
		Valid: v.valid, Code: v.code, Message: v.message,
		Features: []string{}, Quotas: map[string]int64{}, Licenses: []grantJSON{},
	}
	if c == nil {
		return resp
	}
	resp.Licensee = &licenseeJSON{Name: c.Licensee.Name, DisplayName: c.Licensee.DisplayName, ExternalID: c.Licensee.ExternalID}
	resp.Product = &productJSON{Name: c.Product.Name, DisplayName: c.Product.DisplayName}
	if end := c.ExpiresAt(); !end.IsZero() {
		resp.ExpiresAt = &end
	}
	if v.valid {
		resp.Features = c.FeaturesAt(t)
		resp.Quotas = c.QuotasAt(t)
	}
	for _, g := range c.Licenses {
		resp.Licenses = append(resp.Licenses, grantJSON{
			Name: g.Name, Template: g.Template, Type: g.Type,
			State:      c.GrantState(g, t),
			StartsAt:   unixTime(g.StartsAt),
			ValidUntil: unixTime(g.ValidUntil),
			GraceUntil: unixTime(g.GraceUntil),
			Features:   nonNil(g.Features),
			Quotas:     nonNilMap(g.Quotas),
			Seats:      g.Seats, MaxActivations: g.MaxActivations,
		})
	}
	return resp
}

// onlineLicense is /v1/license from the license API's verdict.
func onlineLicense(ov *onlineVerdict) licenseResponse {
	v := ov.v
	resp := licenseResponse{
		Valid: v.Valid, Code: v.Code, Message: v.Message,
		Licensee:  &licenseeJSON{Name: v.Licensee.Name, DisplayName: v.Licensee.DisplayName, ExternalID: v.Licensee.ExternalID},
		Product:   &productJSON{Name: v.Product.Name, DisplayName: v.Product.DisplayName},
		Features:  []string{},
		Quotas:    map[string]int64{},
		Licenses:  []grantJSON{},
		CheckedAt: &v.Time,
	}
	if v.Valid {
		resp.Features, resp.Quotas = nonNil(v.Features), nonNilMap(v.Quotas)
	}
	// The rule of Claims.ExpiresAt, over the licenses as the API sees them.
	windows := license.Claims{}
	for _, l := range v.Licenses {
		resp.Licenses = append(resp.Licenses, grantJSON{
			Name: l.Name, Template: l.Template, Type: l.Type, State: l.State,
			StartsAt: l.StartsAt, ValidUntil: l.ValidUntil, GraceUntil: l.GraceUntil,
			Features: nonNil(l.Features), Quotas: nonNilMap(l.Quotas),
			Seats: l.Seats, SeatsInUse: l.SeatsInUse, MaxActivations: l.MaxActivations, Activations: l.Activations,
		})
		windows.Licenses = append(windows.Licenses, license.Grant{ValidUntil: unixOf(l.ValidUntil), GraceUntil: unixOf(l.GraceUntil)})
	}
	if end := windows.ExpiresAt(); len(windows.Licenses) > 0 && !end.IsZero() {
		resp.ExpiresAt = &end
	}
	return resp
}

func unixOf(t *time.Time) int64 {
	if t == nil {
		return 0
	}
	return t.Unix()
}

// readyResponse is the body of /readyz.
type readyResponse struct {
	Ready   bool         `json:"ready"`
	Valid   bool         `json:"valid"`
	Code    license.Code `json:"code"`
	Message string       `json:"message"`
	sourceInfo
	Seat       *seatStatus       `json:"seat,omitempty"`
	Activation *activationStatus `json:"activation,omitempty"`
}

// serveReady is 200 while the license is valid (always with --ready-always)
// and 503 otherwise, so the pod leaves its Services when the license lapses.
// With --seat the seat must be held, with --activate the fingerprint active.
func (a *Agent) serveReady(w http.ResponseWriter) {
	d := a.decide(a.now())
	v := d.verdict
	resp := readyResponse{Valid: v.valid, Code: v.code, Message: v.message, sourceInfo: d.source,
		Seat: a.seatStatus(), Activation: a.activationStatus()}
	ready := v.valid
	if resp.Seat != nil {
		ready = ready && resp.Seat.Held
	}
	if resp.Activation != nil {
		ready = ready && resp.Activation.Active
	}
	resp.Ready = ready || a.cfg.ReadyAlways
	status := http.StatusOK
	if !resp.Ready {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, resp)
}

// errorResponse is the body of every error that is not about a feature or quota.
type errorResponse struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, errorResponse{Code: code, Message: message})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		body = mustJSON(errorResponse{Code: codeInternal, Message: "encode response: " + err.Error()})
	}
	writeBody(w, status, body)
}

func writeBody(w http.ResponseWriter, status int, body []byte) {
	w.Header()["Content-Type"] = jsonContentType
	w.WriteHeader(status)
	_, _ = w.Write(body) // the client went away; nothing to do
}

// unixTime is sec as a UTC time, or nil for zero ("not set").
func unixTime(sec int64) *time.Time {
	if sec == 0 {
		return nil
	}
	t := time.Unix(sec, 0).UTC()
	return &t
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func nonNilMap(m map[string]int64) map[string]int64 {
	if m == nil {
		return map[string]int64{}
	}
	return m
}
