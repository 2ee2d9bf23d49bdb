package controllers_test

import (
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// managerLogs is the manager's log lines that mention ns.
func managerLogs(ns string) func() string {
	return func() string {
		var lines []string
		for _, line := range strings.Split(logs.String(), "\n") {
			if strings.Contains(line, ns) {
				lines = append(lines, line)
			}
		}
		return strings.Join(lines, "\n")
	}
}

var _ = Describe("A live read that fails", func() {
	var ns string
	BeforeEach(func() {
		ns = newNamespace()
		DeferCleanup(func() { forbidden.set(ns, false) })
	})

	It("is reported on the Licensee and logged, and the conflict it was checking is found once it passes", func() {
		readyProduct(ns, "acme-db")
		Expect(k8sClient.Create(ctx, template(ns, "forever", "acme-db"))).To(Succeed())
		// Not managed, so not in the manager's cache: only a live read tells it from the operator's own.
		foreign := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "globex-license"}, StringData: map[string]string{"password": "hunter2"}}
		Expect(k8sClient.Create(ctx, foreign)).To(Succeed())
		forbidden.set(ns, true)

		l := licensee(ns, "globex", "acme-db", licenseFrom("main", "forever"))
		Expect(k8sClient.Create(ctx, l)).To(Succeed())
		Eventually(licenseeCondition(l, "Ready")).Should(Equal("False/ReconcileError"))
		Expect(condition(l.Status.Conditions, "Ready").Message).To(ContainSubstring("forbidden"))
		Expect(condition(l.Status.Conditions, "Ready").Message).To(ContainSubstring("globex-license"))
		Eventually(managerLogs(ns)).Should(And(ContainSubstring("Reconciler error"), ContainSubstring("forbidden")))

		forbidden.set(ns, false)
		Eventually(licenseeCondition(l, "Ready")).Should(Equal("False/SecretConflict"))
		Expect(get(secret(ns, "globex-license")).Data).To(Equal(map[string][]byte{"password": []byte("hunter2")}))
	})

	It("is reported on the Product and logged, and the conflict it was checking is found once it passes", func() {
		foreign := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "acme-db-signing-key"}, StringData: map[string]string{"password": "hunter2"}}
		Expect(k8sClient.Create(ctx, foreign)).To(Succeed())
		forbidden.set(ns, true)

		p := product(ns, "acme-db")
		Expect(k8sClient.Create(ctx, p)).To(Succeed())
		Eventually(productCondition(p, "Ready")).Should(Equal("False/ReconcileError"))
		Expect(condition(p.Status.Conditions, "Ready").Message).To(ContainSubstring("forbidden"))
		Eventually(managerLogs(ns)).Should(And(ContainSubstring("Reconciler error"), ContainSubstring("forbidden")))

		forbidden.set(ns, false)
		Eventually(productCondition(p, "Ready")).Should(Equal("False/SecretConflict"))
		expectStalled(p.Status.Conditions, "SecretConflict")
	})
})
