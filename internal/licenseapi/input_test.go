package licenseapi_test

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/kubelicense/kubelicense/internal/licenseapi"
	"github.com/kubelicense/kubelicense/pkg/license"
)

var _ = Describe("bad input", func() {
	var i issued
	BeforeEach(func() { i = issue(seatsTemplate(2)) })

	DescribeTable("is 400 MALFORMED naming the field, signed",
		func(path, body, field string) {
			a := call(apiA, "POST", path, i.token, body)
			Expect(a.status).To(Equal(http.StatusBadRequest), string(a.body))
			p := a.problem()
			Expect(p.Code).To(Equal(license.CodeMalformed))
			Expect(p.Field).To(Equal(field), p.Message)
			Expect(p.Message).NotTo(BeEmpty())
			verifyAnswer(i, a)
		},
		Entry("unknown member", "/v1/validate", `{"nonce":"n","featur":"x"}`, "featur"),
		Entry("case-variant member", "/v1/validate", `{"nonce":"n","Feature":"x"}`, "Feature"),
		Entry("duplicate member", "/v1/validate", `{"nonce":"n","nonce":"m"}`, "nonce"),
		Entry("wrong type", "/v1/validate", `{"nonce":5}`, "nonce"),
		Entry("not JSON", "/v1/validate", `nonce=n`, ""),
		Entry("two objects", "/v1/validate", `{"nonce":"n"}{}`, ""),
		Entry("an array", "/v1/validate", `[]`, ""),
		Entry("empty body", "/v1/validate", ``, ""),
		Entry("no nonce", "/v1/validate", `{}`, "nonce"),
		Entry("a nonce with spaces", "/v1/validate", `{"nonce":"a b"}`, "nonce"),
		Entry("an over-long nonce", "/v1/validate", `{"nonce":"`+strings.Repeat("n", 129)+`"}`, "nonce"),
		Entry("an over-long fingerprint", "/v1/activations", `{"license":"main","fingerprint":"`+strings.Repeat("f", 257)+`"}`, "fingerprint"),
		Entry("a fingerprint with a control character", "/v1/activations", `{"license":"main","fingerprint":"a\u0000b"}`, "fingerprint"),
		Entry("no fingerprint", "/v1/activations", `{"license":"main"}`, "fingerprint"),
		Entry("too much metadata", "/v1/activations", `{"license":"main","fingerprint":"f","metadata":{`+manyMembers(17)+`}}`, "metadata"),
		Entry("no license", "/v1/seats", `{"holder":"h"}`, "license"),
		Entry("a license that is no name", "/v1/seats", `{"license":"Main!","holder":"h"}`, "license"),
		Entry("an over-long holder", "/v1/seats", `{"license":"main","holder":"`+strings.Repeat("h", 257)+`"}`, "holder"),
		Entry("a ttl that is no duration", "/v1/seats", `{"license":"main","holder":"h","ttl":"soon"}`, "ttl"),
		Entry("a ttl below the minimum", "/v1/seats", `{"license":"main","holder":"h","ttl":"1s"}`, "ttl"),
	)

	It("answers 413 to a body over 16 KiB", func() {
		a := call(apiA, "POST", "/v1/validate", i.token, `{"nonce":"n","feature":"`+strings.Repeat("x", 17<<10)+`"}`)
		Expect(a.status).To(Equal(http.StatusRequestEntityTooLarge))
		Expect(a.problem().Code).To(Equal(license.CodeMalformed))
	})

	It("answers unknown paths and methods in JSON", func() {
		a := call(apiA, "GET", "/v1/nothing", i.token, nil)
		Expect(a.status).To(Equal(http.StatusNotFound))
		Expect(a.problem().Code).To(Equal(license.CodeNotFound))
		a = call(apiA, "GET", "/v1/validate", i.token, nil)
		Expect(a.status).To(Equal(http.StatusMethodNotAllowed))
		Expect(a.header.Get("Allow")).To(Equal("POST"))
		Expect(a.problem().Code).To(Equal(license.CodeMalformed))
		a = call(apiA, "PATCH", "/v1/seats/x", i.token, nil)
		Expect(a.status).To(Equal(http.StatusMethodNotAllowed))
	})
})

var _ = Describe("rate limits", func() {
	It("limits a licensee, then failed authentications harder, with 429 and RateLimit headers", func() {
		i := issue(nil)
		limited := startReplica(false, licenseapi.Options{
			PerLicensee: licenseapi.Limit{Rate: 0.001, Burst: 3},
			FailedAuth:  licenseapi.Limit{Rate: 0.001, Burst: 2},
		})
		defer limited.shutdown()
		for n := range 3 {
			a := call(limited, "POST", "/v1/validate", i.token, license.ValidateRequest{Nonce: nonce()})
			Expect(a.status).To(Equal(http.StatusOK))
			Expect(a.header.Get("RateLimit-Remaining")).To(Equal(strconv.Itoa(2 - n)))
		}
		a := call(limited, "POST", "/v1/validate", i.token, license.ValidateRequest{Nonce: nonce()})
		Expect(a.status).To(Equal(http.StatusTooManyRequests))
		Expect(a.problem().Code).To(Equal(license.CodeRateLimited))
		Expect(a.header.Get("Retry-After")).NotTo(BeEmpty())
		Expect(a.header.Get("RateLimit-Limit")).To(Equal("3"))
		Expect(a.header.Get("RateLimit-Remaining")).To(Equal("0"))
		verifyAnswer(i, a)

		By("another licensee is not held back by the first")
		j := addLicensee(i.ns, "initech")
		Expect(call(limited, "POST", "/v1/validate", j.token, license.ValidateRequest{Nonce: nonce()}).status).To(Equal(http.StatusOK))

		By("forged tokens from one address: two 401s, then 429")
		bad := i.token[:len(i.token)-4] + "AAAA"
		Expect(call(limited, "POST", "/v1/validate", bad, license.ValidateRequest{Nonce: nonce()}).status).To(Equal(http.StatusUnauthorized))
		Expect(call(limited, "POST", "/v1/validate", bad, license.ValidateRequest{Nonce: nonce()}).status).To(Equal(http.StatusUnauthorized))
		a = call(limited, "POST", "/v1/validate", bad, license.ValidateRequest{Nonce: nonce()})
		Expect(a.status).To(Equal(http.StatusTooManyRequests))
		Expect(a.problem().Code).To(Equal(license.CodeRateLimited))
		_ = time.Second
	})
})

func manyMembers(n int) string {
	parts := make([]string, n)
	for k := range parts {
		parts[k] = `"k` + strconv.Itoa(k) + `":"v"`
	}
	return strings.Join(parts, ",")
}

var _ = Describe("load shedding", func() {
	It("answers 503 UNAVAILABLE with Retry-After past the requests in flight, instead of queueing", func() {
		i := issue(nil)
		small := startReplica(false, licenseapi.Options{MaxInFlight: 1})
		defer small.shutdown()

		By("one request held in the handler, waiting for its body")
		conn, err := tls.Dial("tcp", small.server.Addr(), &tls.Config{RootCAs: caPool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12})
		Expect(err).NotTo(HaveOccurred())
		defer conn.Close()
		body := `{"nonce":"held"}`
		_, err = fmt.Fprintf(conn, "POST /v1/validate HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n", i.token, len(body))
		Expect(err).NotTo(HaveOccurred())
		reader := bufio.NewReader(conn)
		line, err := reader.ReadString('\n')
		Expect(err).NotTo(HaveOccurred())
		Expect(line).To(HavePrefix("HTTP/1.1 100"), "the handler reads the body: the request is in flight")
		_, _ = reader.ReadString('\n')

		a := call(small, "POST", "/v1/validate", i.token, license.ValidateRequest{Nonce: nonce()})
		Expect(a.status).To(Equal(http.StatusServiceUnavailable))
		Expect(a.problem().Code).To(Equal(license.CodeUnavailable))
		Expect(a.header.Get("Retry-After")).To(Equal("1"))

		_, err = io.WriteString(conn, body)
		Expect(err).NotTo(HaveOccurred())
		resp, err := http.ReadResponse(reader, nil)
		Expect(err).NotTo(HaveOccurred())
		resp.Body.Close()
		Expect(resp.StatusCode).To(Equal(http.StatusOK))
		Expect(call(small, "POST", "/v1/validate", i.token, license.ValidateRequest{Nonce: nonce()}).status).To(Equal(http.StatusOK))
	})
})
