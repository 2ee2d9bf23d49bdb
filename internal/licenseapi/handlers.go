package licenseapi

import (
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kubelicense/kubelicense/pkg/license"
)

// handlerFunc serves one authenticated (or, with public, unauthenticated) route.
type handlerFunc func(x *exchange) error

// routes are Go 1.22 ServeMux patterns. Each path also has a method-less
// pattern that answers 405 in JSON, and "/" answers 404 in JSON.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	routes := []struct {
		pattern string
		serve   handlerFunc
	}{
		{"POST " + license.PathValidate, s.validate},
		{"POST " + license.PathActivations, s.activate},
		{"GET " + license.PathActivations, s.listActivations},
		{"DELETE " + license.PathActivations + "/{fingerprint}", s.deactivate},
		{"POST " + license.PathSeats, s.acquireSeat},
		{"PUT " + license.PathSeats + "/{id}", s.heartbeatSeat},
		{"DELETE " + license.PathSeats + "/{id}", s.releaseSeat},
	}
	allowed := map[string][]string{}
	for _, rt := range routes {
		method, path, _ := strings.Cut(rt.pattern, " ")
		allowed[path] = append(allowed[path], method)
		mux.Handle(rt.pattern, s.authenticated(rt.pattern, rt.serve))
	}
	for path, methods := range allowed {
		mux.Handle(path, s.public(path, func(x *exchange) error {
			x.w.Header().Set("Allow", strings.Join(methods, ", "))
			return newProblem(http.StatusMethodNotAllowed, license.CodeMalformed, "%s is not allowed on %s; use %s", clip(x.r.Method), path, strings.Join(methods, " or "))
		}))
	}
	mux.Handle("/", s.public("/", func(x *exchange) error {
		return newProblem(http.StatusNotFound, license.CodeNotFound, "no endpoint %s %s; see docs/license-api.md", clip(x.r.Method), clip(x.r.URL.Path))
	}))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodConnect { // ServeMux would treat CONNECT's host as a path
			x := s.begin(w, r, "CONNECT")
			defer s.finish(x)
			s.fail(x, newProblem(http.StatusMethodNotAllowed, license.CodeMalformed, "CONNECT is not allowed; the license API is not a proxy"))
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func (s *Server) begin(w http.ResponseWriter, r *http.Request, endpoint string) *exchange {
	x := &exchange{w: w, r: r, now: s.now(), endpoint: endpoint}
	if n := r.Header.Get(license.HeaderNonce); checkNonce(n) == nil {
		x.nonce = n
	}
	return x
}

func (s *Server) finish(x *exchange) {
	code := string(x.code)
	if code == "" {
		code = "NONE"
	}
	m := metricsOf(x.endpoint)
	m.requests(code).Inc()
	m.duration.Observe(s.clock.Since(x.now).Seconds())
}

// public serves a route that needs no token (404, 405), still rate-limited by address.
func (s *Server) public(endpoint string, serve handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		x := s.begin(w, r, endpoint)
		defer s.finish(x)
		if d := s.perAddress.allow(clientAddress(r), x.now); !d.allowed {
			rateLimitedTotal.WithLabelValues("address").Inc()
			d.setHeaders(w.Header())
			s.fail(x, d.problem("from this address"))
			return
		}
		if err := serve(x); err != nil {
			s.failErr(x, err)
		}
	})
}

// authenticated serves a route for a caller holding a license token: limits
// by address, verification (failures limited harder), limits by licensee, and
// a bounded body; from authentication on, every answer is signed.
func (s *Server) authenticated(endpoint string, serve handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		x := s.begin(w, r, endpoint)
		defer s.finish(x)
		addr := clientAddress(r)
		if d := s.perAddress.allow(addr, x.now); !d.allowed {
			rateLimitedTotal.WithLabelValues("address").Inc()
			d.setHeaders(w.Header())
			s.fail(x, d.problem("from this address"))
			return
		}
		select {
		case s.inFlight <- struct{}{}:
			defer func() { <-s.inFlight }()
		default:
			rateLimitedTotal.WithLabelValues("in-flight").Inc()
			s.fail(x, &problem{status: http.StatusServiceUnavailable, code: license.CodeUnavailable, retryAfter: time.Second,
				message: "the license API is at its limit of requests in flight; retry after the Retry-After header"})
			return
		}
		c, err := s.authenticate(r.Context(), r)
		if err != nil {
			if p, ok := err.(*problem); ok && p.status == http.StatusUnauthorized {
				if d := s.failedAuth.allow(addr, x.now); !d.allowed {
					rateLimitedTotal.WithLabelValues("failed-auth").Inc()
					d.setHeaders(w.Header())
					s.fail(x, d.problem("with tokens that fail verification from this address"))
					return
				}
			}
			s.failErr(x, err)
			return
		}
		x.caller = c
		d := s.perLicensee.allow(c.namespace+"/"+c.claims.Subject, x.now)
		d.setHeaders(w.Header())
		if !d.allowed {
			rateLimitedTotal.WithLabelValues("licensee").Inc()
			s.fail(x, d.problem("for this licensee"))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, license.MaxRequestBody)
		if err := serve(x); err != nil {
			s.failErr(x, err)
		}
	})
}

// clientAddress is the peer's IP. Forwarding headers are not trusted: the API
// is reached through a Service, not a proxy that would set them honestly.
func clientAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// requestNonce takes the body's nonce, else the header's; both must agree.
func requestNonce(x *exchange, body string) error {
	if err := checkNonce(body); err != nil {
		return err
	}
	header := x.r.Header.Get(license.HeaderNonce)
	if err := checkNonce(header); err != nil {
		p := err.(*problem)
		p.field, p.message = license.HeaderNonce, "header "+license.HeaderNonce+": "+p.message
		return p
	}
	if body != "" && header != "" && body != header {
		return malformed("nonce", "the body's nonce and the %s header differ; send one nonce", license.HeaderNonce)
	}
	if body != "" {
		x.nonce = body
	} else {
		x.nonce = header
	}
	return nil
}

// noBody refuses a body on GET, PUT and DELETE: their input is the path.
func noBody(x *exchange) error {
	if x.r.ContentLength > 0 {
		return malformed("", "%s %s takes no body", x.r.Method, x.endpoint)
	}
	return requestNonce(x, "")
}

func (s *Server) validate(x *exchange) error {
	var req license.ValidateRequest
	if err := decodeBody(x.r, &req); err != nil {
		return err
	}
	if err := requestNonce(x, req.Nonce); err != nil {
		return err
	}
	if x.nonce == "" {
		return malformed("nonce", "nonce is required: a fresh random value the signed answer echoes, so it cannot be replayed")
	}
	req.Nonce = x.nonce
	if err := checkText("feature", req.Feature, 63, false); err != nil {
		return err
	}
	if err := checkText("fingerprint", req.Fingerprint, license.MaxFingerprintLength, false); err != nil {
		return err
	}
	if err := checkLicenseName(req.License, false); err != nil {
		return err
	}
	c := x.caller
	if c.licensee == nil {
		s.reply(x, http.StatusOK, license.CodeRevoked, revokedVerdict(c, &req, x.now))
		return nil
	}
	e, err := s.evaluate(x.r.Context(), c, x.now)
	if err != nil {
		return err
	}
	if req.License != "" && !slices.ContainsFunc(e.result.Licenses, func(l entitlementLicense) bool { return l.Name == req.License }) {
		return newProblem(http.StatusNotFound, license.CodeNotFound, "Licensee %s has no license %q", c.licensee.Name, req.License)
	}
	var activated func(string) bool
	if req.Fingerprint != "" {
		acts, err := s.store.activations(x.r.Context(), s.store.cache, c.licensee)
		if err != nil {
			return err
		}
		activated = func(lic string) bool {
			return slices.ContainsFunc(acts, func(a activationObj) bool {
				return a.Spec.License == lic && a.Spec.Fingerprint == req.Fingerprint
			})
		}
	}
	v := e.verdict(&req, activated, x.now)
	s.reply(x, http.StatusOK, v.Code, &v)
	return nil
}

// entitlingLicense is the evaluation of a caller that may take seats or
// activations of license name, and that license: the token within its own
// lifetime, its Licensee still there, and the license entitling now.
func (s *Server) entitlingLicense(x *exchange, name string) (*evaluation, license.Grant, error) {
	e, err := s.mutable(x)
	if err != nil {
		return nil, license.Grant{}, err
	}
	g, p := e.entitling(name, x.now)
	if p != nil {
		return nil, g, p
	}
	return e, g, nil
}

// mutable is the evaluation of a caller that may take seats or activations:
// its token within its own lifetime, its Licensee still there.
func (s *Server) mutable(x *exchange) (*evaluation, error) {
	c := x.caller
	if err := c.present(); err != nil {
		return nil, err
	}
	if c.tokenCode != "" {
		return nil, newProblem(http.StatusForbidden, c.tokenCode, "the token is %s by its own nbf/exp; mount the refreshed license Secret to take seats or activations", c.tokenCode)
	}
	return s.evaluate(x.r.Context(), c, x.now)
}

func (s *Server) activate(x *exchange) error {
	var req license.ActivateRequest
	if err := decodeBody(x.r, &req); err != nil {
		return err
	}
	if err := requestNonce(x, req.Nonce); err != nil {
		return err
	}
	if err := checkActivateRequest(&req); err != nil {
		return err
	}
	e, g, err := s.entitlingLicense(x, req.License)
	if err != nil {
		return err
	}
	if g.MaxActivations <= 0 {
		return newProblem(http.StatusConflict, license.CodeTooManyActivations, "license %s takes no activations (its template sets no maxActivations)", req.License)
	}
	a, created, err := s.store.activate(x.r.Context(), e.licensee, req.License, g.MaxActivations, &req, x.now)
	if err != nil {
		return err
	}
	count := e.usage[req.License].Activations
	status, message := http.StatusOK, "fingerprint already active"
	if created {
		status, message = http.StatusCreated, "fingerprint activated"
		count++
	}
	s.reply(x, status, license.CodeValid, &license.ActivationAnswer{
		Code: license.CodeValid, Message: message, Activation: activationOut(a),
		Activations: min(count, g.MaxActivations), MaxActivations: g.MaxActivations, Nonce: x.nonce, Time: x.now,
	})
	return nil
}

func checkActivateRequest(req *license.ActivateRequest) error {
	if err := checkLicenseName(req.License, true); err != nil {
		return err
	}
	if err := checkText("fingerprint", req.Fingerprint, license.MaxFingerprintLength, true); err != nil {
		return err
	}
	if err := checkText("name", req.Name, license.MaxNameLength, false); err != nil {
		return err
	}
	if len(req.Metadata) > license.MaxMetadataEntries {
		return malformed("metadata", "metadata has %d entries, more than the %d allowed", len(req.Metadata), license.MaxMetadataEntries)
	}
	for k, v := range req.Metadata {
		if err := checkText("metadata", k, license.MaxMetadataKeyLength, true); err != nil {
			return err
		}
		if err := checkText("metadata/"+clip(k), v, license.MaxMetadataValLength, false); err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) listActivations(x *exchange) error {
	if err := noBody(x); err != nil {
		return err
	}
	lic := x.r.URL.Query().Get("license")
	if err := checkLicenseName(lic, false); err != nil {
		return err
	}
	c := x.caller
	if err := c.present(); err != nil {
		return err
	}
	acts, err := s.store.activations(x.r.Context(), s.store.cache, c.licensee)
	if err != nil {
		return err
	}
	out := license.ActivationList{Code: license.CodeValid, Message: "activations of " + c.licensee.Name, Activations: []license.Activation{}, Nonce: x.nonce, Time: x.now}
	for i := range acts {
		if lic == "" || acts[i].Spec.License == lic {
			out.Activations = append(out.Activations, *activationOut(&acts[i]))
		}
	}
	slices.SortFunc(out.Activations, func(a, b license.Activation) int {
		return strings.Compare(a.License+"/"+a.Fingerprint, b.License+"/"+b.Fingerprint)
	})
	s.reply(x, http.StatusOK, license.CodeValid, &out)
	return nil
}

func (s *Server) deactivate(x *exchange) error {
	if err := noBody(x); err != nil {
		return err
	}
	fp := x.r.PathValue("fingerprint")
	if err := checkText("fingerprint", fp, license.MaxFingerprintLength, true); err != nil {
		return err
	}
	lic := x.r.URL.Query().Get("license")
	if err := checkLicenseName(lic, true); err != nil {
		return err
	}
	c := x.caller
	if err := c.present(); err != nil {
		return err
	}
	e, err := s.evaluate(x.r.Context(), c, x.now)
	if err != nil {
		return err
	}
	a, err := s.store.deactivate(x.r.Context(), c.licensee, lic, fp)
	if err != nil {
		return err
	}
	g, _ := e.grant(lic)
	s.reply(x, http.StatusOK, license.CodeValid, &license.ActivationAnswer{
		Code: license.CodeValid, Message: "fingerprint deactivated", Activation: activationOut(a),
		Activations: max(e.usage[lic].Activations-1, 0), MaxActivations: g.MaxActivations, Nonce: x.nonce, Time: x.now,
	})
	return nil
}

func (s *Server) acquireSeat(x *exchange) error {
	var req license.SeatRequest
	if err := decodeBody(x.r, &req); err != nil {
		return err
	}
	if err := requestNonce(x, req.Nonce); err != nil {
		return err
	}
	if err := checkLicenseName(req.License, true); err != nil {
		return err
	}
	if err := checkText("holder", req.Holder, license.MaxHolderLength, true); err != nil {
		return err
	}
	ttl, err := s.seatTTL(req.TTL)
	if err != nil {
		return err
	}
	e, g, err := s.entitlingLicense(x, req.License)
	if err != nil {
		return err
	}
	if g.Seats <= 0 {
		return newProblem(http.StatusConflict, license.CodeNoSeatsAvailable, "license %s has no seats (its template sets no seats)", req.License)
	}
	claim, err := s.store.acquire(x.r.Context(), e.licensee, req.License, g.Seats, req.Holder, ttl, x.now)
	if err != nil {
		return err
	}
	inUse := e.usage[req.License].SeatsInUse
	status, message := http.StatusOK, "the holder already holds this seat; renewed"
	if claim.created {
		status, message = http.StatusCreated, "seat acquired"
		inUse++
	}
	s.reply(x, status, license.CodeValid, &license.SeatAnswer{
		Code: license.CodeValid, Message: message, Lease: leaseOut(claim.lease),
		Seats: g.Seats, SeatsInUse: min(inUse, g.Seats), Nonce: x.nonce, Time: x.now,
	})
	return nil
}

// seatTTL parses a requested TTL within the server's bounds, whole seconds.
func (s *Server) seatTTL(v string) (time.Duration, error) {
	if v == "" {
		return s.opts.DefaultSeatTTL, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || len(v) > 32 {
		return 0, malformed("ttl", "ttl %q is not a duration such as \"2m\" or \"90s\"", clip(v))
	}
	if d < s.opts.MinSeatTTL || d > s.opts.MaxSeatTTL {
		return 0, malformed("ttl", "ttl %s is outside [%s, %s]", d, s.opts.MinSeatTTL, s.opts.MaxSeatTTL)
	}
	return d.Truncate(time.Second), nil
}

// leaseRef is a lease id taken apart: "<license>.<slot>.<lease id>".
func (s *Server) leaseRef(x *exchange) (lic string, slot int32, leaseID string, err error) {
	id := x.r.PathValue("id")
	parts := strings.Split(id, ".")
	if len(id) > 128 || len(parts) != 3 || checkLicenseName(parts[0], true) != nil || !leaseIDRE.MatchString(parts[2]) {
		return "", 0, "", malformed("id", "%q is not a seat lease id; use the lease.id the acquire answer gave", clip(id))
	}
	n, err := strconv.ParseInt(parts[1], 10, 32)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != parts[1] {
		return "", 0, "", malformed("id", "%q is not a seat lease id; use the lease.id the acquire answer gave", clip(id))
	}
	return parts[0], int32(n), parts[2], nil
}

func (s *Server) heartbeatSeat(x *exchange) error {
	if err := noBody(x); err != nil {
		return err
	}
	lic, slot, leaseID, err := s.leaseRef(x)
	if err != nil {
		return err
	}
	e, g, err := s.entitlingLicense(x, lic)
	if err != nil {
		return err
	}
	l := e.licensee
	lease, err := s.store.renew(x.r.Context(), l.Namespace, slotName(l.Name, lic, slot), leaseID, 0, x.now, g.Seats)
	if err != nil {
		return err
	}
	s.reply(x, http.StatusOK, license.CodeValid, &license.SeatAnswer{
		Code: license.CodeValid, Message: "lease renewed", Lease: leaseOut(lease),
		Seats: g.Seats, SeatsInUse: min(e.usage[lic].SeatsInUse, g.Seats), Nonce: x.nonce, Time: x.now,
	})
	return nil
}

func (s *Server) releaseSeat(x *exchange) error {
	if err := noBody(x); err != nil {
		return err
	}
	lic, slot, leaseID, err := s.leaseRef(x)
	if err != nil {
		return err
	}
	c := x.caller
	if err := c.present(); err != nil {
		return err
	}
	e, err := s.evaluate(x.r.Context(), c, x.now)
	if err != nil {
		return err
	}
	l := c.licensee
	lease, err := s.store.release(x.r.Context(), l.Namespace, slotName(l.Name, lic, slot), leaseID)
	if err != nil {
		return err
	}
	g, _ := e.grant(lic)
	s.reply(x, http.StatusOK, license.CodeValid, &license.SeatAnswer{
		Code: license.CodeValid, Message: "seat released", Lease: leaseOut(lease),
		Seats: g.Seats, SeatsInUse: max(e.usage[lic].SeatsInUse-1, 0), Nonce: x.nonce, Time: x.now,
	})
	return nil
}
