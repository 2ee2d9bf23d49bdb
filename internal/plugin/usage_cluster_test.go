package plugin

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
)

// Lease ids of the form the license API gives (24 hex digits).
const (
	leaseA = "aaaaaaaaaaaaaaaaaaaaaaaa"
	leaseB = "bbbbbbbbbbbbbbbbbbbbbbbb"
	leaseC = "cccccccccccccccccccccccc"
)

// usageMeta is the metadata the license API gives the object in slot of lic.
func usageMeta(l *licensingv1alpha1.Licensee, lic string, slot int32) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Namespace: l.Namespace,
		Name:      licensingv1alpha1.SlotName(l.Name, lic, slot),
		Labels: map[string]string{
			licensingv1alpha1.LabelManaged:  "true",
			licensingv1alpha1.LabelLicensee: l.Name,
			licensingv1alpha1.LabelLicense:  lic,
		},
		OwnerReferences: []metav1.OwnerReference{{
			APIVersion: licensingv1alpha1.GroupVersion.String(), Kind: "Licensee",
			Name: l.Name, UID: l.UID, Controller: ptr.To(false),
		}},
	}
}

// activate writes an Activation as POST /v1/activations does.
func activate(l *licensingv1alpha1.Licensee, lic string, slot int32, fingerprint, machine string, at time.Time) *licensingv1alpha1.Activation {
	a := &licensingv1alpha1.Activation{
		ObjectMeta: usageMeta(l, lic, slot),
		Spec: licensingv1alpha1.ActivationSpec{
			LicenseeRef: licensingv1alpha1.LocalObjectReference{Name: l.Name}, License: lic, Slot: slot,
			Fingerprint: fingerprint, DisplayName: machine, ActivatedAt: metav1.NewTime(at),
			Metadata: map[string]string{"os": "linux"},
		},
	}
	Expect(k8sClient.Create(suiteCtx, a)).To(Succeed())
	return a
}

// takeSeat writes a SeatLease as POST /v1/seats does, last renewed at renewed.
func takeSeat(l *licensingv1alpha1.Licensee, lic string, slot int32, holder, leaseID string, ttl time.Duration, renewed time.Time) *licensingv1alpha1.SeatLease {
	s := &licensingv1alpha1.SeatLease{
		ObjectMeta: usageMeta(l, lic, slot),
		Spec: licensingv1alpha1.SeatLeaseSpec{
			LicenseeRef: licensingv1alpha1.LocalObjectReference{Name: l.Name}, License: lic, Slot: slot,
			Holder: holder, LeaseID: leaseID, TTLSeconds: int32(ttl / time.Second),
			AcquiredAt: metav1.NewMicroTime(renewed.Add(-time.Hour)), RenewedAt: metav1.NewMicroTime(renewed),
		},
	}
	Expect(k8sClient.Create(suiteCtx, s)).To(Succeed())
	return s
}

// takeOver gives the lapsed lease s to holder under a new lease id, as the
// license API does when the next holder takes a lapsed slot.
func takeOver(s *licensingv1alpha1.SeatLease, holder, leaseID string) {
	cur := &licensingv1alpha1.SeatLease{}
	Expect(k8sClient.Get(suiteCtx, client.ObjectKeyFromObject(s), cur)).To(Succeed())
	cur.Spec.Holder, cur.Spec.LeaseID = holder, leaseID
	cur.Spec.RenewedAt = metav1.NewMicroTime(testNow)
	Expect(k8sClient.Update(suiteCtx, cur)).To(Succeed())
}

// usageStatus is validStatus with main's seats and activations counted.
func usageStatus() licensingv1alpha1.LicenseeStatus {
	s := validStatus("0123456789abcdef")
	s.Licenses[0].Seats, s.Licenses[0].SeatsInUse = 5, 2
	s.Licenses[0].MaxActivations, s.Licenses[0].Activations = 3, 1
	return s
}

func exists(obj client.Object) bool {
	err := k8sClient.Get(suiteCtx, client.ObjectKeyFromObject(obj), obj)
	if apierrors.IsNotFound(err) {
		return false
	}
	Expect(err).NotTo(HaveOccurred())
	return true
}

// The JSON the commands print, as a script reads it.
type (
	activationJSON struct {
		Namespace   string            `json:"namespace"`
		Name        string            `json:"name"`
		Licensee    string            `json:"licensee"`
		License     string            `json:"license"`
		Slot        int32             `json:"slot"`
		Fingerprint string            `json:"fingerprint"`
		DisplayName string            `json:"displayName"`
		Metadata    map[string]string `json:"metadata"`
		ActivatedAt time.Time         `json:"activatedAt"`
	}
	seatJSON struct {
		Namespace  string    `json:"namespace"`
		Name       string    `json:"name"`
		Licensee   string    `json:"licensee"`
		License    string    `json:"license"`
		Slot       int32     `json:"slot"`
		Holder     string    `json:"holder"`
		Lease      string    `json:"lease"`
		AcquiredAt time.Time `json:"acquiredAt"`
		RenewedAt  time.Time `json:"renewedAt"`
		TTLSeconds int32     `json:"ttlSeconds"`
		ExpiresAt  time.Time `json:"expiresAt"`
		Held       *bool     `json:"held"`
	}
)

var _ = Describe("kubectl license, license API state", func() {
	var (
		f               *fixture
		globex, initech *licensingv1alpha1.Licensee
	)

	BeforeEach(func() {
		f = newFixture()
		f.createProduct("acme-db")
		globex = f.createLicensee("globex", "acme-db", usageStatus(), "", nil)
		initech = f.createLicensee("initech", "acme-db", expiredStatus(), "", nil)
	})

	Describe("status", func() {
		It("shows seats in use / seats and activations / max", func() {
			r := kubectlLicense("status", "-n", f.namespace)
			Expect(r.code).To(Equal(ExitOK), r.stderr)
			Expect(r.stdout).To(Equal(
				"LICENSEE   PRODUCT   LICENSED          LICENSES                    EXPIRES                          SEATS   ACTIVATIONS   READY\n" +
					"globex     acme-db   True (Valid)      main=Valid, trial=Expired   in 364d (2027-11-30T12:00:00Z)   2/5     1/3           True\n" +
					"initech    acme-db   False (Expired)   main=Expired                -                                -       -             False (SecretConflict)\n"))

			r = kubectlLicense("status", "globex", "-n", f.namespace, "-o", "json")
			Expect(r.code).To(Equal(ExitOK), r.stderr)
			var list struct {
				Items []struct {
					Licenses []struct {
						Name                                           string
						Seats, SeatsInUse, MaxActivations, Activations int32
					} `json:"licenses"`
				} `json:"items"`
			}
			Expect(json.Unmarshal([]byte(r.stdout), &list)).To(Succeed(), r.stdout)
			Expect(list.Items).To(HaveLen(1))
			Expect(list.Items[0].Licenses[0].Name).To(Equal("main"))
			Expect(list.Items[0].Licenses[0].Seats).To(BeEquivalentTo(5))
			Expect(list.Items[0].Licenses[0].SeatsInUse).To(BeEquivalentTo(2))
			Expect(list.Items[0].Licenses[0].MaxActivations).To(BeEquivalentTo(3))
			Expect(list.Items[0].Licenses[0].Activations).To(BeEquivalentTo(1))
		})
	})

	Describe("activations", func() {
		BeforeEach(func() {
			activate(globex, "main", 2, "fp-db-2", "db-2", testNow.Add(-30*time.Minute))
			activate(globex, "main", 0, "fp-db-1", "db-1", testNow.Add(-2*time.Hour))
			activate(globex, "trial", 0, "fp-laptop", "", testNow.Add(-40*day))
			activate(initech, "main", 0, "fp-initech", "build-1", testNow.Add(-time.Hour))
		})

		It("prints a table of a licensee's activations", func() {
			r := kubectlLicense("activations", "globex", "-n", f.namespace)
			Expect(r.code).To(Equal(ExitOK), r.stderr)
			Expect(r.stdout).To(Equal(
				"LICENSE   FINGERPRINT   MACHINE   ACTIVATED   SLOT\n" +
					"main      fp-db-1       db-1      120m ago    0\n" +
					"main      fp-db-2       db-2      30m ago     2\n" +
					"trial     fp-laptop     -         40d ago     0\n"))

			r = kubectlLicense("activations", "globex", "-n", f.namespace, "--license", "trial")
			Expect(r.code).To(Equal(ExitOK), r.stderr)
			Expect(r.stdout).To(Equal(
				"LICENSE   FINGERPRINT   MACHINE   ACTIVATED   SLOT\n" +
					"trial     fp-laptop     -         40d ago     0\n"))
		})

		It("adds the licensee without one, and the namespace with -A", func() {
			r := kubectlLicense("activations", "-n", f.namespace)
			Expect(r.code).To(Equal(ExitOK), r.stderr)
			Expect(r.stdout).To(Equal(
				"LICENSEE   LICENSE   FINGERPRINT   MACHINE   ACTIVATED   SLOT\n" +
					"globex     main      fp-db-1       db-1      120m ago    0\n" +
					"globex     main      fp-db-2       db-2      30m ago     2\n" +
					"globex     trial     fp-laptop     -         40d ago     0\n" +
					"initech    main      fp-initech    build-1   60m ago     0\n"))

			r = kubectlLicense("activations", "-A", "--license", "trial")
			Expect(r.code).To(Equal(ExitOK), r.stderr)
			Expect(r.stdout).To(HavePrefix("NAMESPACE "))
			Expect(r.stdout).To(MatchRegexp(`(?m)^%s\s+globex\s+trial\s+fp-laptop\s+-\s+40d ago\s+0$`, f.namespace))
			Expect(r.stdout).NotTo(ContainSubstring("fp-db-1"))

			r = kubectlLicense("activations", "globex", "-A")
			Expect(r.code).To(Equal(ExitUsage))
			Expect(r.stderr).To(ContainSubstring("not both"))
		})

		It("prints JSON and YAML for scripts", func() {
			r := kubectlLicense("activations", "globex", "-n", f.namespace, "-o", "json")
			Expect(r.code).To(Equal(ExitOK), r.stderr)
			var list struct {
				Items []activationJSON `json:"items"`
			}
			Expect(json.Unmarshal([]byte(r.stdout), &list)).To(Succeed(), r.stdout)
			Expect(list.Items).To(HaveLen(3))
			Expect(list.Items[0]).To(Equal(activationJSON{
				Namespace: f.namespace, Name: "globex.main.0", Licensee: "globex", License: "main", Slot: 0,
				Fingerprint: "fp-db-1", DisplayName: "db-1", Metadata: map[string]string{"os": "linux"},
				ActivatedAt: testNow.Add(-2 * time.Hour),
			}))

			r = kubectlLicense("activations", "initech", "-n", f.namespace, "-o", "yaml")
			Expect(r.code).To(Equal(ExitOK), r.stderr)
			Expect(r.stdout).To(ContainSubstring("fingerprint: fp-initech\n"))
		})

		It("says so when there are none, and why", func() {
			r := kubectlLicense("activations", "globex", "-n", f.namespace, "--license", "gold")
			Expect(r.code).To(Equal(ExitOK), r.stderr)
			Expect(r.stdout).To(BeEmpty())
			Expect(r.stderr).To(Equal("No activations found for license gold of licensee globex in namespace " + f.namespace +
				"; licensee globex has no license \"gold\" (its licenses: main, trial).\n"))

			r = kubectlLicense("activations", "globex", "-n", f.namespace, "--license", "gold", "-o", "json")
			Expect(r.code).To(Equal(ExitOK), r.stderr)
			Expect(r.stdout).To(MatchJSON(`{"items": []}`))

			r = kubectlLicense("activations", "nobody", "-n", f.namespace)
			Expect(r.code).To(Equal(ExitUsage))
			Expect(r.stderr).To(HavePrefix(`error: licensee "nobody" not found in namespace "` + f.namespace + `"`))
		})
	})

	Describe("seats", func() {
		BeforeEach(func() {
			takeSeat(globex, "main", 1, "web-2/uid-2", leaseB, 2*time.Minute, testNow.Add(-140*time.Second)) // lapsed 20s ago
			takeSeat(globex, "main", 0, "web-1/uid-1", leaseA, 2*time.Minute, testNow.Add(-30*time.Second))
			takeSeat(initech, "main", 0, "ci-runner", leaseC, time.Hour, testNow.Add(-10*time.Minute))
		})

		It("prints a table of a licensee's seat leases, lapsed ones marked", func() {
			r := kubectlLicense("seats", "globex", "-n", f.namespace)
			Expect(r.code).To(Equal(ExitOK), r.stderr)
			Expect(r.stdout).To(Equal(
				"LICENSE   HOLDER        LEASE                             EXPIRES          SLOT\n" +
					"main      web-1/uid-1   main.0." + leaseA + "   in 90s           0\n" +
					"main      web-2/uid-2   main.1." + leaseB + "   lapsed 20s ago   1\n"))

			r = kubectlLicense("seats", "-A", "--license", "main")
			Expect(r.code).To(Equal(ExitOK), r.stderr)
			Expect(r.stdout).To(MatchRegexp(`^NAMESPACE\s+LICENSEE\s+LICENSE\s+HOLDER\s+LEASE\s+EXPIRES\s+SLOT\n`))
			Expect(r.stdout).To(MatchRegexp(`(?m)^%s\s+initech\s+main\s+ci-runner\s+main\.0\.%s\s+in 50m\s+0$`, f.namespace, leaseC))
		})

		It("prints JSON for scripts", func() {
			r := kubectlLicense("seats", "globex", "-n", f.namespace, "-o", "json")
			Expect(r.code).To(Equal(ExitOK), r.stderr)
			var list struct {
				Items []seatJSON `json:"items"`
			}
			Expect(json.Unmarshal([]byte(r.stdout), &list)).To(Succeed(), r.stdout)
			Expect(list.Items).To(HaveLen(2))
			Expect(list.Items[0]).To(Equal(seatJSON{
				Namespace: f.namespace, Name: "globex.main.0", Licensee: "globex", License: "main", Slot: 0,
				Holder: "web-1/uid-1", Lease: "main.0." + leaseA,
				AcquiredAt: testNow.Add(-30*time.Second - time.Hour), RenewedAt: testNow.Add(-30 * time.Second),
				TTLSeconds: 120, ExpiresAt: testNow.Add(90 * time.Second), Held: ptr.To(true),
			}))
			Expect(list.Items[1].Held).To(Equal(ptr.To(false)))
			Expect(list.Items[1].ExpiresAt).To(Equal(testNow.Add(-20 * time.Second)))
		})
	})

	Describe("deactivate", func() {
		It("deletes the fingerprint's activation and nothing else", func() {
			gone := activate(globex, "main", 0, "fp-db-1", "db-1", testNow.Add(-time.Hour))
			kept := activate(globex, "main", 1, "fp-db-2", "db-2", testNow.Add(-time.Hour))
			other := activate(initech, "main", 0, "fp-db-1", "db-1", testNow.Add(-time.Hour))

			r := kubectlLicense("deactivate", "globex", "fp-db-1", "-n", f.namespace)
			Expect(r.code).To(Equal(ExitOK), r.stderr)
			Expect(r.stdout).To(Equal("licensee " + f.namespace + `/globex: fingerprint "fp-db-1" deactivated for license main (activation globex.main.0, machine db-1)` + "\n"))
			Expect(exists(gone)).To(BeFalse())
			Expect(exists(kept)).To(BeTrue())
			Expect(exists(other)).To(BeTrue(), "another licensee's activation of the same fingerprint")
		})

		It("refuses a fingerprint activated for several licenses unless --license names one", func() {
			main := activate(globex, "main", 0, "fp-db-1", "db-1", testNow.Add(-time.Hour))
			trial := activate(globex, "trial", 0, "fp-db-1", "db-1", testNow.Add(-time.Hour))

			r := kubectlLicense("deactivate", "globex", "fp-db-1", "-n", f.namespace)
			Expect(r.code).To(Equal(ExitUsage))
			Expect(r.stderr).To(HavePrefix(`error: fingerprint "fp-db-1" is activated for 2 licenses of licensee globex: main, trial; name the one to deactivate with --license` + "\n"))
			Expect(exists(main)).To(BeTrue())
			Expect(exists(trial)).To(BeTrue())

			r = kubectlLicense("deactivate", "globex", "fp-db-1", "--license", "trial", "-n", f.namespace)
			Expect(r.code).To(Equal(ExitOK), r.stderr)
			Expect(exists(main)).To(BeTrue())
			Expect(exists(trial)).To(BeFalse())
		})

		It("says what is not there", func() {
			activate(globex, "main", 0, "fp-db-1", "db-1", testNow.Add(-time.Hour))
			for _, tc := range []struct {
				args []string
				want string
			}{
				{[]string{"deactivate", "globex", "fp-nope"}, `fingerprint "fp-nope" is not activated for licensee globex in namespace ` + f.namespace + `; list the activations with: kubectl license activations globex -n ` + f.namespace},
				{[]string{"deactivate", "globex", "fp-db-1", "--license", "trial"}, `fingerprint "fp-db-1" is not activated for license trial of licensee globex in namespace ` + f.namespace},
				{[]string{"deactivate", "nobody", "fp-db-1"}, `licensee "nobody" not found in namespace "` + f.namespace + `"`},
				{[]string{"deactivate", "globex"}, "name the licensee and the fingerprint"},
			} {
				r := kubectlLicense(append(tc.args, "-n", f.namespace)...)
				Expect(r.code).To(Equal(ExitUsage), "%v: %s", tc.args, r.stdout)
				Expect(r.stderr).To(HavePrefix("error: "+tc.want), "%v", tc.args)
			}
		})
	})

	Describe("release", func() {
		It("deletes the lease by its API id, or by the object's name", func() {
			first := takeSeat(globex, "main", 0, "web-1/uid-1", leaseA, 2*time.Minute, testNow.Add(-30*time.Second))
			second := takeSeat(globex, "main", 1, "web-2/uid-2", leaseB, 2*time.Minute, testNow.Add(-140*time.Second))

			r := kubectlLicense("release", "globex", "main.0."+leaseA, "-n", f.namespace)
			Expect(r.code).To(Equal(ExitOK), r.stderr)
			Expect(r.stdout).To(Equal("licensee " + f.namespace + "/globex: seat lease main.0." + leaseA + ` released (holder "web-1/uid-1", seat 0 of license main)` + "\n"))
			Expect(exists(first)).To(BeFalse())
			Expect(exists(second)).To(BeTrue())

			r = kubectlLicense("release", "globex", "globex.main.1", "-n", f.namespace)
			Expect(r.code).To(Equal(ExitOK), r.stderr)
			Expect(r.stdout).To(Equal("licensee " + f.namespace + "/globex: seat lease main.1." + leaseB + ` released (holder "web-2/uid-2", seat 1 of license main); it had lapsed 20s ago` + "\n"))
			Expect(exists(second)).To(BeFalse())
		})

		It("refuses a lease whose seat another holder took", func() {
			s := takeSeat(globex, "main", 0, "web-1/uid-1", leaseA, 2*time.Minute, testNow.Add(-5*time.Minute))
			takeOver(s, "web-3/uid-3", leaseC)

			r := kubectlLicense("release", "globex", "main.0."+leaseA, "-n", f.namespace)
			Expect(r.code).To(Equal(ExitUsage))
			Expect(r.stderr).To(HavePrefix("error: seat lease main.0." + leaseA + ` is not held any more: seat 0 of license main was taken by holder "web-3/uid-3" (lease main.0.` + leaseC + `); nothing released`))
			Expect(exists(s)).To(BeTrue())
			Expect(s.Spec.LeaseID).To(Equal(leaseC))
		})

		It("says what is not there, and what a lease id looks like", func() {
			takeSeat(globex, "main", 0, "web-1/uid-1", leaseA, 2*time.Minute, testNow)
			for _, tc := range []struct {
				args []string
				want string
			}{
				{[]string{"release", "globex", "main.3." + leaseA}, `no seat lease main.3.` + leaseA + ` for licensee globex in namespace ` + f.namespace + `: it was released, or it lapsed and was cleaned up; list the seat leases with: kubectl license seats globex -n ` + f.namespace},
				{[]string{"release", "initech", "main.0." + leaseA}, `no seat lease main.0.` + leaseA + ` for licensee initech`},
				{[]string{"release", "nobody", "main.0." + leaseA}, `licensee "nobody" not found in namespace "` + f.namespace + `"`},
				{[]string{"release", "globex", "main-0-" + leaseA}, `"main-0-` + leaseA + `" is not a seat lease: give its lease id <license>.<slot>.<id> (the LEASE column of kubectl license seats) or the SeatLease's name <licensee>.<license>.<slot>`},
				{[]string{"release", "globex"}, "name the licensee and the lease"},
			} {
				r := kubectlLicense(append(tc.args, "-n", f.namespace)...)
				Expect(r.code).To(Equal(ExitUsage), "%v: %s", tc.args, r.stdout)
				Expect(r.stderr).To(HavePrefix("error: "+tc.want), "%v", tc.args)
			}
			Expect(strings.Count(kubectlLicense("seats", "globex", "-n", f.namespace).stdout, "\n")).To(Equal(2), "the lease is still there")
		})
	})
})

// Between the plugin's read and its delete, another writer moves first: the
// delete's preconditions must keep what the other writer made.
var _ = Describe("deactivate and release, racing another writer", func() {
	var (
		f      *fixture
		globex *licensingv1alpha1.Licensee
	)

	BeforeEach(func() {
		f = newFixture()
		f.createProduct("acme-db")
		globex = f.createLicensee("globex", "acme-db", usageStatus(), "", nil)
	})

	// clusterWhere is the plugin's connection, with before run once ahead of
	// its first delete.
	clusterWhere := func(before func()) *cluster {
		scheme, err := newScheme()
		Expect(err).NotTo(HaveOccurred())
		real, err := client.NewWithWatch(restConfig, client.Options{Scheme: scheme})
		Expect(err).NotTo(HaveOccurred())
		var once sync.Once
		c := interceptor.NewClient(real, interceptor.Funcs{
			Delete: func(ctx context.Context, w client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
				once.Do(before)
				return w.Delete(ctx, obj, opts...)
			},
		})
		return &cluster{client: c, namespace: f.namespace}
	}

	It("release keeps a seat that another holder took after the read", func() {
		s := takeSeat(globex, "main", 0, "web-1/uid-1", leaseA, 2*time.Minute, testNow.Add(-5*time.Minute))
		c := clusterWhere(func() { takeOver(s, "web-3/uid-3", leaseC) })

		_, err := c.release(suiteCtx, "globex", leaseRef{license: "main", slot: 0, id: "main.0." + leaseA})
		Expect(err).To(MatchError(ContainSubstring(`seat 0 of license main was taken by holder "web-3/uid-3"`)))
		Expect(exists(s)).To(BeTrue())
		Expect(s.Spec.LeaseID).To(Equal(leaseC))
	})

	It("release by object name keeps a seat that another holder took after the read", func() {
		s := takeSeat(globex, "main", 0, "web-1/uid-1", leaseA, 2*time.Minute, testNow.Add(-5*time.Minute))
		c := clusterWhere(func() { takeOver(s, "web-3/uid-3", leaseC) })

		_, err := c.release(suiteCtx, "globex", leaseRef{license: "main", slot: 0})
		Expect(err).To(MatchError(ContainSubstring("seat lease main.0." + leaseA + " is not held any more")))
		Expect(exists(s)).To(BeTrue())
		Expect(s.Spec.LeaseID).To(Equal(leaseC))
	})

	It("release still releases a lease its holder renewed after the read", func() {
		s := takeSeat(globex, "main", 0, "web-1/uid-1", leaseA, 2*time.Minute, testNow.Add(-30*time.Second))
		c := clusterWhere(func() {
			cur := &licensingv1alpha1.SeatLease{}
			Expect(k8sClient.Get(suiteCtx, client.ObjectKeyFromObject(s), cur)).To(Succeed())
			cur.Spec.RenewedAt = metav1.NewMicroTime(testNow) // a heartbeat
			Expect(k8sClient.Update(suiteCtx, cur)).To(Succeed())
		})

		r, err := c.release(suiteCtx, "globex", leaseRef{license: "main", slot: 0, id: "main.0." + leaseA})
		Expect(err).NotTo(HaveOccurred())
		Expect(r.goneMeanwhile).To(BeFalse())
		Expect(exists(s)).To(BeFalse())
	})

	It("deactivate keeps another machine's activation in the freed slot", func() {
		a := activate(globex, "main", 0, "fp-db-1", "db-1", testNow.Add(-time.Hour))
		c := clusterWhere(func() {
			// Deactivated through the API, and the slot taken by another machine.
			Expect(k8sClient.Delete(suiteCtx, a.DeepCopy())).To(Succeed())
			activate(globex, "main", 0, "fp-db-9", "db-9", testNow)
		})

		deleted, err := c.deactivate(suiteCtx, "globex", "fp-db-1", "")
		Expect(deleted).To(BeEmpty())
		Expect(err).To(MatchError(ContainSubstring("it was deactivated while this command ran")))
		Expect(exists(a)).To(BeTrue())
		Expect(a.Spec.Fingerprint).To(Equal("fp-db-9"))
	})
})
