package licenseapi_test

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
	"github.com/kubelicense/kubelicense/internal/licenseapi"
	"github.com/kubelicense/kubelicense/internal/licensemetrics"
	"github.com/kubelicense/kubelicense/internal/testenv"
	"github.com/kubelicense/kubelicense/pkg/license"
)

func activationsIn(ns string) []licensingv1alpha1.Activation {
	list := &licensingv1alpha1.ActivationList{}
	ExpectWithOffset(1, k8sClient.List(ctx, list, client.InNamespace(ns))).To(Succeed())
	return list.Items
}

func leasesIn(ns string) []licensingv1alpha1.SeatLease {
	list := &licensingv1alpha1.SeatLeaseList{}
	ExpectWithOffset(1, k8sClient.List(ctx, list, client.InNamespace(ns))).To(Succeed())
	return list.Items
}

var _ = Describe("activations", func() {
	It("gives exactly maxActivations to 200 concurrent callers on two replicas", func() {
		i := issue(activationsTemplate(10))
		statuses := make([]int, 200)
		codes := make([]license.Code, 200)
		var wg sync.WaitGroup
		for n := range 200 {
			wg.Go(func() {
				defer GinkgoRecover()
				r := apiA
				if n%2 == 1 {
					r = apiB
				}
				a := call(r, "POST", "/v1/activations", i.token, license.ActivateRequest{
					License: "main", Fingerprint: fmt.Sprintf("machine-%03d", n), Name: "host",
				})
				statuses[n] = a.status
				var ans license.ActivationAnswer
				a.decode(&ans)
				codes[n] = ans.Code
			})
		}
		wg.Wait()
		created, refused := 0, 0
		for n, st := range statuses {
			switch {
			case st == http.StatusCreated:
				created++
			case st == http.StatusConflict && codes[n] == license.CodeTooManyActivations:
				refused++
			default:
				Fail(fmt.Sprintf("request %d: %d %s", n, st, codes[n]))
			}
		}
		Expect(created).To(Equal(10))
		Expect(refused).To(Equal(190))
		Expect(activationsIn(i.ns)).To(HaveLen(10))
		for _, a := range activationsIn(i.ns) {
			Expect(a.OwnerReferences).To(HaveLen(1), "deleting the Licensee deletes its activations")
			Expect(a.OwnerReferences[0].UID).To(Equal(i.get().UID))
		}
	})

	It("re-activates idempotently, frees a slot on deactivation, lists, and node-locks validate", func() {
		i := issue(activationsTemplate(2))
		act := func(fp string) answer {
			return call(apiA, "POST", "/v1/activations", i.token, license.ActivateRequest{License: "main", Fingerprint: fp, Metadata: map[string]string{"os": "linux"}})
		}
		Expect(act("m-1").status).To(Equal(http.StatusCreated))
		a := act("m-1")
		Expect(a.status).To(Equal(http.StatusOK), "the same fingerprint again is the same activation")
		verifyAnswer(i, a)
		Expect(act("m-2").status).To(Equal(http.StatusCreated))
		a = act("m-3")
		Expect(a.status).To(Equal(http.StatusConflict))
		Expect(a.problem().Code).To(Equal(license.CodeTooManyActivations))

		By("validate with a fingerprint checks it is activated")
		var v license.Verdict
		call(apiB, "POST", "/v1/validate", i.token, license.ValidateRequest{Nonce: nonce(), Fingerprint: "m-1"}).decode(&v)
		Expect(v.Code).To(Equal(license.CodeValid))
		Expect(v.Licenses[0].Activations).To(Equal(int32(2)))
		Expect(v.Licenses[0].MaxActivations).To(Equal(int32(2)))
		call(apiB, "POST", "/v1/validate", i.token, license.ValidateRequest{Nonce: nonce(), Fingerprint: "m-3"}).decode(&v)
		Expect(v.Code).To(Equal(license.CodeFingerprintMismatch))
		Expect(v.Valid).To(BeFalse())

		By("listing")
		var list license.ActivationList
		Eventually(func() []license.Activation {
			call(apiB, "GET", "/v1/activations", i.token, nil).decode(&list)
			return list.Activations
		}).Should(HaveLen(2))
		Expect(list.Activations[0].Fingerprint).To(Equal("m-1"))
		Expect(list.Activations[0].Metadata).To(Equal(map[string]string{"os": "linux"}))

		By("deactivating frees the slot")
		a = call(apiB, "DELETE", "/v1/activations/m-1?license=main", i.token, nil)
		Expect(a.status).To(Equal(http.StatusOK), string(a.body))
		a = call(apiB, "DELETE", "/v1/activations/m-1?license=main", i.token, nil)
		Expect(a.status).To(Equal(http.StatusNotFound))
		Expect(a.problem().Code).To(Equal(license.CodeNotFound))
		Expect(act("m-3").status).To(Equal(http.StatusCreated))
		By("the Licensee's status counts them")
		Eventually(func() int32 {
			st := i.get().Status.Licenses
			if len(st) == 0 {
				return -1
			}
			return st[0].Activations
		}).Should(Equal(int32(2)))
	})

	It("takes no activation for a license without maxActivations, nor for a suspended one", func() {
		i := issue(nil)
		a := call(apiA, "POST", "/v1/activations", i.token, license.ActivateRequest{License: "main", Fingerprint: "m"})
		Expect(a.status).To(Equal(http.StatusConflict))
		Expect(a.problem().Code).To(Equal(license.CodeTooManyActivations))

		j := issue(activationsTemplate(3))
		j.patch(func(l *licensingv1alpha1.Licensee) { l.Spec.Licenses[0].Suspended = true })
		Eventually(func() license.Code {
			return call(apiA, "POST", "/v1/activations", j.token, license.ActivateRequest{License: "main", Fingerprint: "m"}).problem().Code
		}).Should(Equal(license.CodeSuspended))
		a = call(apiA, "POST", "/v1/activations", j.token, license.ActivateRequest{License: "other", Fingerprint: "m"})
		Expect(a.status).To(Equal(http.StatusNotFound))
	})
})

var _ = Describe("seats", func() {
	acquire := func(r *replica, i issued, holder string) answer {
		return call(r, "POST", "/v1/seats", i.token, license.SeatRequest{License: "main", Holder: holder, TTL: "30s"})
	}
	leaseOf := func(a answer) license.Lease {
		var s license.SeatAnswer
		a.decode(&s)
		ExpectWithOffset(1, s.Lease).NotTo(BeNil(), string(a.body))
		return *s.Lease
	}

	It("gives the last seat to exactly one of many racing holders", func() {
		// Both replicas read the license's leases through the informer's index.
		Expect(licenseapi.ReadsLeasesByIndex(apiA.server)).To(BeTrue())
		Expect(licenseapi.ReadsLeasesByIndex(apiB.server)).To(BeTrue())
		Expect(licenseapi.ReadsFromInformerStores(apiA.server)).To(BeTrue())
		i := issue(seatsTemplate(3))
		Expect(acquire(apiA, i, "first").status).To(Equal(http.StatusCreated))
		Expect(acquire(apiB, i, "second").status).To(Equal(http.StatusCreated))
		statuses := make([]int, 40)
		var wg sync.WaitGroup
		for n := range 40 {
			wg.Go(func() {
				defer GinkgoRecover()
				r := []*replica{apiA, apiB}[n%2]
				statuses[n] = acquire(r, i, fmt.Sprintf("racer-%d", n)).status
			})
		}
		wg.Wait()
		won := 0
		for _, st := range statuses {
			Expect(st).To(Or(Equal(http.StatusCreated), Equal(http.StatusConflict)))
			if st == http.StatusCreated {
				won++
			}
		}
		Expect(won).To(Equal(1))
		Expect(leasesIn(i.ns)).To(HaveLen(3))

		a := acquire(apiA, i, "late")
		Expect(a.status).To(Equal(http.StatusConflict))
		Expect(a.problem().Code).To(Equal(license.CodeNoSeatsAvailable))
		retry, err := strconv.Atoi(a.header.Get("Retry-After"))
		Expect(err).NotTo(HaveOccurred())
		Expect(retry).To(BeNumerically("<=", 10), "at most a third of the 30s TTL asked for: a released seat is free at once")
		verifyAnswer(i, a)
	})

	It("steers one replica's concurrent acquires of the same first slot apart: no failed create, no live read", func() {
		counter := &testenv.RequestCounter{}
		countedCfg := rest.CopyConfig(managerCfg)
		countedCfg.Wrap(counter.Wrap)
		counted, err := client.New(countedCfg, client.Options{Scheme: scheme.Scheme})
		Expect(err).NotTo(HaveOccurred())
		r := startReplica(false, licenseapi.Options{Live: counted, Writer: counted})
		defer r.shutdown()
		const seats, n = 64, 12
		i := issue(seatsTemplate(seats))
		var holders []string
		for h := 0; len(holders) < n; h++ {
			if name := fmt.Sprintf("pod-%d", h); licenseapi.SlotStart(name, seats) == licenseapi.SlotStart("pod-0", seats) {
				holders = append(holders, name)
			}
		}
		statuses := make([]int, n)
		var wg sync.WaitGroup
		for k, h := range holders {
			wg.Go(func() { statuses[k] = acquire(r, i, h).status })
		}
		wg.Wait()
		Expect(statuses).To(HaveEach(http.StatusCreated))
		Expect(leasesIn(i.ns)).To(HaveLen(n))
		Expect(counter.Writes("seatleases")).To(Equal(n), "one create per holder: none failed on a slot another was taking")
		Expect(counter.Gets("seatleases")).To(BeZero(), "no slot read live after a failed create")
	})

	It("gives the holder its lease back, renews on heartbeat, releases", func() {
		i := issue(seatsTemplate(1))
		first := acquire(apiA, i, "pod-1")
		Expect(first.status).To(Equal(http.StatusCreated))
		lease := leaseOf(first)
		Expect(lease.HeartbeatEvery).To(Equal("10s"))
		again := acquire(apiB, i, "pod-1")
		Expect(again.status).To(Equal(http.StatusOK))
		Expect(leaseOf(again).ID).To(Equal(lease.ID))

		clk.Advance(5 * time.Second)
		a := call(apiB, "PUT", "/v1/seats/"+lease.ID, i.token, nil)
		Expect(a.status).To(Equal(http.StatusOK), string(a.body))
		verifyAnswer(i, a)
		Expect(leaseOf(a).ExpiresAt).To(BeTemporally(">", lease.ExpiresAt))

		a = call(apiA, "DELETE", "/v1/seats/"+lease.ID, i.token, nil)
		Expect(a.status).To(Equal(http.StatusOK), string(a.body))
		Expect(acquire(apiA, i, "pod-2").status).To(Equal(http.StatusCreated))
		a = call(apiA, "PUT", "/v1/seats/"+lease.ID, i.token, nil)
		Expect(a.status).To(Equal(http.StatusGone))
		Expect(a.problem().Code).To(Equal(license.CodeSeatExpired))
	})

	It("gives a seat to a holder asking again right after its release (the cache may still show the old lease)", func() {
		i := issue(seatsTemplate(1))
		for n := range 20 {
			a := acquire(apiA, i, "pod-1")
			Expect(a.status).To(Equal(http.StatusCreated), "round %d: %s", n, a.body)
			r := call(apiA, "DELETE", "/v1/seats/"+leaseOf(a).ID, i.token, nil)
			Expect(r.status).To(Equal(http.StatusOK), "round %d: %s", n, r.body)
		}
	})

	It("frees a lapsed lease for the next holder at once; the old holder gets SEAT_EXPIRED", func() {
		i := issue(seatsTemplate(1))
		old := leaseOf(acquire(apiA, i, "pod-1"))
		Expect(acquire(apiB, i, "pod-2").status).To(Equal(http.StatusConflict))
		clk.Advance(31 * time.Second)
		taken := acquire(apiB, i, "pod-2")
		Expect(taken.status).To(Equal(http.StatusCreated), string(taken.body))
		Expect(leaseOf(taken).ID).NotTo(Equal(old.ID))
		a := call(apiA, "PUT", "/v1/seats/"+old.ID, i.token, nil)
		Expect(a.status).To(Equal(http.StatusGone), string(a.body))
		Expect(a.problem().Code).To(Equal(license.CodeSeatExpired))
		Expect(leasesIn(i.ns)).To(HaveLen(1), "the slot was taken over, not duplicated")

		By("the Licensee's status counts the seat in use")
		Eventually(func() int32 {
			st := i.get().Status.Licenses
			if len(st) == 0 {
				return -1
			}
			return st[0].SeatsInUse
		}).Should(Equal(int32(1)))
	})

	It("refuses lease ids that are not ones it gave", func() {
		i := issue(seatsTemplate(1))
		for _, id := range []string{"x", "main.0", "main.-1.0123456789abcdef01234567", "main.01.0123456789abcdef01234567", "MAIN.0.0123456789abcdef01234567", "main.0.zz"} {
			a := call(apiA, "PUT", "/v1/seats/"+id, i.token, nil)
			Expect(a.status).To(Equal(http.StatusBadRequest), id)
			Expect(a.problem().Field).To(Equal("id"))
		}
		a := call(apiA, "PUT", "/v1/seats/main.0.0123456789abcdef01234567", i.token, nil)
		Expect(a.status).To(Equal(http.StatusGone))
	})
})

var _ = Describe("a restart", func() {
	It("keeps every activation and lease: the state is in the API server", func() {
		i := issue(func(t *licensingv1alpha1.LicenseTemplateSpec) {
			t.Seats, t.MaxActivations = ptrTo(int32(2)), ptrTo(int32(2))
		})
		Expect(call(apiB, "POST", "/v1/activations", i.token, license.ActivateRequest{License: "main", Fingerprint: "m-1"}).status).To(Equal(http.StatusCreated))
		var s license.SeatAnswer
		call(apiB, "POST", "/v1/seats", i.token, license.SeatRequest{License: "main", Holder: "pod-1"}).decode(&s)
		Expect(s.Lease).NotTo(BeNil())

		apiB.shutdown()
		apiB = startReplica(false, licenseapi.Options{})

		Eventually(func() int {
			var list license.ActivationList
			call(apiB, "GET", "/v1/activations", i.token, nil).decode(&list)
			return len(list.Activations)
		}).Should(Equal(1))
		a := call(apiB, "PUT", "/v1/seats/"+s.Lease.ID, i.token, nil)
		Expect(a.status).To(Equal(http.StatusOK), string(a.body))
		Expect(call(apiB, "POST", "/v1/activations", i.token, license.ActivateRequest{License: "main", Fingerprint: "m-1"}).status).To(Equal(http.StatusOK))
	})
})

var _ = Describe("metrics", func() {
	It("exports seats in use and activations per license, read at scrape time", func() {
		i := issue(func(t *licensingv1alpha1.LicenseTemplateSpec) {
			t.Seats, t.MaxActivations = ptrTo(int32(3)), ptrTo(int32(2))
		})
		Expect(call(apiA, "POST", "/v1/activations", i.token, license.ActivateRequest{License: "main", Fingerprint: "m-1"}).status).To(Equal(http.StatusCreated))
		Expect(call(apiA, "POST", "/v1/seats", i.token, license.SeatRequest{License: "main", Holder: "h"}).status).To(Equal(http.StatusCreated))

		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(licensemetrics.New(k8sClient))
		labels := fmt.Sprintf(`{license="main",licensee="globex",namespace=%q,product="acme-db"}`, i.ns)
		want := func(inUse, activations int) string {
			return fmt.Sprintf(`# HELP kubelicense_license_activations Fingerprints activated now (licenses with maxActivations only).
# TYPE kubelicense_license_activations gauge
kubelicense_license_activations%[1]s %[3]d
# HELP kubelicense_license_max_activations Distinct fingerprints that may activate the license (licenses with maxActivations only).
# TYPE kubelicense_license_max_activations gauge
kubelicense_license_max_activations%[1]s 2
# HELP kubelicense_license_seats Concurrent seat leases the license allows (licenses with seats only).
# TYPE kubelicense_license_seats gauge
kubelicense_license_seats%[1]s 3
# HELP kubelicense_license_seats_in_use Seat leases held now (licenses with seats only).
# TYPE kubelicense_license_seats_in_use gauge
kubelicense_license_seats_in_use%[1]s %[2]d
`, labels, inUse, activations)
		}
		only := func() error {
			// Other specs' Licensees are in the registry too: compare this one's series.
			mfs, err := reg.Gather()
			if err != nil {
				return err
			}
			var b strings.Builder
			for _, mf := range mfs {
				if !usageFamily(mf.GetName()) {
					continue
				}
				var mine []*dto.Metric
				for _, m := range mf.Metric {
					for _, lp := range m.Label {
						if lp.GetName() == "namespace" && lp.GetValue() == i.ns {
							mine = append(mine, m)
						}
					}
				}
				mf.Metric = mine
				if len(mine) > 0 {
					if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
						return err
					}
				}
			}
			if b.String() != want(1, 1) {
				return fmt.Errorf("got\n%s", b.String())
			}
			return nil
		}
		Eventually(only).Should(Succeed())

		By("a deleted Licensee's series disappear")
		Expect(k8sClient.Delete(ctx, i.get())).To(Succeed())
		Eventually(func() (int, error) {
			mfs, err := reg.Gather()
			n := 0
			for _, mf := range mfs {
				if !usageFamily(mf.GetName()) {
					continue
				}
				for _, m := range mf.Metric {
					for _, lp := range m.Label {
						if lp.GetName() == "namespace" && lp.GetValue() == i.ns {
							n++
						}
					}
				}
			}
			return n, err
		}).Should(BeZero())
	})
})

// usageFamily tells the seat and activation series, which this suite's
// counts feed, from the collector's other families (the Product's keep their
// series while the Product stays; internal/licensemetrics tests them all).
func usageFamily(name string) bool {
	switch name {
	case "kubelicense_license_seats", "kubelicense_license_seats_in_use",
		"kubelicense_license_activations", "kubelicense_license_max_activations":
		return true
	}
	return false
}
